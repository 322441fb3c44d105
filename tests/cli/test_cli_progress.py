"""The `gptaq` tool's progress output, --quiet, --log-json, Ctrl-C (SIGINT) and its
outputs: written under temporary names and renamed only when the command succeeds, in
folders created like mkdir -p."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

GPTAQ = os.environ.get("GPTAQ_TOOL", "gptaq")
PHASES = ("statistics", "factorization", "sweep", "packing")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("progress")
    r = np.random.default_rng(3)
    np.save(d / "W.npy", (0.05 * r.standard_normal((32, 256))).astype(np.float32))
    np.save(d / "X.npy", r.standard_normal((2500, 256)).astype(np.float32))
    np.save(d / "XFP.npy", r.standard_normal((2500, 256)).astype(np.float32))
    return d


def quantize(data, *extra, env=None):
    cmd = [GPTAQ, "quantize", "--weight", data / "W.npy", "--calib", data / "X.npy",
           "--backend", "cpu", "--batch-tokens", "1000", *extra]
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_plain_progress_lines_when_stderr_is_not_a_terminal(data, tmp_path):
    p = quantize(data, "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("gptaq: ")]
    assert "\r" not in p.stderr and "\033" not in p.stderr
    for phase in PHASES:
        assert any(l.startswith(f"gptaq: {phase} 0%") for l in lines), p.stderr
        assert any(l.startswith(f"gptaq: {phase} 100%") for l in lines), p.stderr
    # Statistics count the whole calibration file across its three batches.
    assert "gptaq: statistics 100% (2500/2500 tokens)" in p.stderr
    assert "gptaq: sweep 100% (256/256 columns)" in p.stderr
    assert "gptaq: packing 100% (32/32 rows)" in p.stderr


def test_quiet_prints_no_progress(data, tmp_path):
    p = quantize(data, "--out", tmp_path / "o", "--quiet")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert "quantized 32 x 256" in p.stdout


@pytest.mark.parametrize("to_file", [False, True])
def test_log_json_is_one_object_per_line(data, tmp_path, to_file):
    log = tmp_path / "log.jsonl"
    p = quantize(data, "--out", tmp_path / "o", "--method", "gptaq", "--calib-fp",
                 data / "XFP.npy", "--log-json", log if to_file else "-")
    assert p.returncode == 0, p.stderr
    text = log.read_text() if to_file else p.stderr
    if to_file:
        assert p.stderr == ""
    events = [json.loads(l) for l in text.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["phase"] for e in progress} == set(PHASES)
    for phase in PHASES:
        ev = [e for e in progress if e["phase"] == phase]
        done = [e["done"] for e in ev]
        assert done == sorted(done) and done[0] == 0 and done[-1] == ev[-1]["total"]
    assert [e for e in progress if e["phase"] == "statistics"][-1]["total"] == 2500
    elapsed = [e["elapsed"] for e in progress]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0
    logs = [e for e in events if e["event"] == "log"]
    assert any("CPU backend" in e["message"] and e["level"] == "info" for e in logs)


def test_out_creates_missing_parents(data, tmp_path):
    out = tmp_path / "a" / "b" / "c"
    p = quantize(data, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    assert files_under(out) == ["codes.npy", "dequant.npy", "g_idx.npy", "scales.npy",
                                "zeros.npy"]
    # --save too, and nothing temporary is left anywhere.
    p = quantize(data, "--save", tmp_path / "x" / "y" / "model.safetensors", "--name", "l",
                 "--quiet")
    assert p.returncode == 0, p.stderr
    assert files_under(tmp_path / "x") == ["y", "y/model.safetensors", "y/quantize_config.json"]


def test_out_under_a_file_fails_before_the_solve(data, tmp_path):
    (tmp_path / "f").write_text("")
    p = quantize(data, "--out", tmp_path / "f" / "o", "--quiet")
    assert p.returncode == 1
    assert "cannot create" in p.stderr
    assert "quantized" not in p.stdout


@pytest.mark.parametrize("method", ["gptq", "gptaq", "gptqt"])
def test_sigint_stops_cleanly_without_output_files(data, tmp_path, method):
    out = tmp_path / "new" / "out"
    save = tmp_path / "ck" / "model.safetensors"
    (tmp_path / "ck").mkdir()
    extra = ["--out", out, "--method", method]
    if method == "gptaq":
        extra += ["--calib-fp", data / "XFP.npy"]
    if method != "gptqt":
        extra += ["--save", save, "--name", "layer"]
    env = dict(os.environ, GPTAQ_CLI_PROGRESS_DELAY_MS="400")
    cmd = [GPTAQ, "quantize", "--weight", data / "W.npy", "--calib", data / "X.npy",
           "--backend", "cpu", "--batch-tokens", "1000", *extra]
    proc = subprocess.Popen([str(c) for c in cmd], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    first = proc.stderr.readline()
    assert first.startswith("gptaq: "), first
    proc.send_signal(signal.SIGINT)
    out_s, err_s = proc.communicate(timeout=120)
    assert proc.returncode == 130, err_s
    assert "interrupted" in err_s and "no output files" in err_s
    assert "quantized" not in out_s
    assert not (tmp_path / "new").exists()  # the folders it created are gone too
    assert files_under(tmp_path / "ck") == []


def test_sigint_during_the_solve(data, tmp_path):
    env = dict(os.environ, GPTAQ_CLI_PROGRESS_DELAY_MS="300")
    cmd = [GPTAQ, "quantize", "--weight", data / "W.npy", "--calib", data / "X.npy",
           "--backend", "cpu", "--out", tmp_path / "o", "--block-size", "16"]
    proc = subprocess.Popen([str(c) for c in cmd], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    while True:
        line = proc.stderr.readline()
        assert line, "the command ended before its sweep"
        if line.startswith("gptaq: sweep"):
            break
    proc.send_signal(signal.SIGINT)
    _, err_s = proc.communicate(timeout=120)
    assert proc.returncode == 130, err_s
    assert not (tmp_path / "o").exists()


def test_imatrix_progress_and_no_partial_file_on_sigint(data, tmp_path):
    out = tmp_path / "im" / "imatrix.gguf"
    p = subprocess.run([GPTAQ, "imatrix", "--input", f"blk.0.attn_q.weight={data / 'X.npy'}",
                        "--out", str(out), "--backend", "cpu", "--batch-tokens", "1000"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "gptaq: statistics 100% (2500/2500 tokens)" in p.stderr
    assert out.exists() and files_under(tmp_path / "im") == ["imatrix.gguf"]
    out2 = tmp_path / "im2" / "imatrix.gguf"
    env = dict(os.environ, GPTAQ_CLI_PROGRESS_DELAY_MS="400")
    proc = subprocess.Popen([GPTAQ, "imatrix", "--input", f"blk.0.attn_q.weight={data / 'X.npy'}",
                             "--out", str(out2), "--backend", "cpu", "--batch-tokens", "1000"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr.readline().startswith("gptaq: statistics")
    proc.send_signal(signal.SIGINT)
    _, err_s = proc.communicate(timeout=120)
    assert proc.returncode == 130, err_s
    assert not (tmp_path / "im2").exists()


def test_demo_report_writes_a_table_and_an_svg_chart(tmp_path):
    import xml.etree.ElementTree as ET
    rep = tmp_path / "r" / "s"
    p = subprocess.run([GPTAQ, "demo", "--calib-tokens", "128", "--eval-tokens", "32",
                        "--backend", "cpu", "--report", str(rep)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert files_under(rep) == ["demo.md", "demo.svg"]
    md = (rep / "demo.md").read_text()
    rows = [l for l in md.splitlines() if l.startswith("| ") and not l.startswith("| method")]
    assert len(rows) >= 13
    assert "![error by method and bits](demo.svg)" in md
    svg = ET.parse(rep / "demo.svg").getroot()
    assert svg.tag.endswith("svg")
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in svg.iter(ns + "rect") if r.find(ns + "title") is not None]
    assert len(bars) == len(rows)
    titles = [r.find(ns + "title").text for r in bars]
    assert any(t.startswith("GPTAQ, 4 bits") for t in titles)
    assert all(float(r.get("height")) > 0 for r in bars)
    texts = [t.text for t in svg.iter(ns + "text")]
    assert {"4 bits", "3 bits", "2 bits"} <= set(texts)
