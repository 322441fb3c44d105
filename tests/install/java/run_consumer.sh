#!/usr/bin/env bash
# The Java consumer of the installed prefix (issue 14): compile tests/install/java/Consumer.java
# against the INSTALLED jar only, copy that jar alone into a scratch folder, and run the
# consumer from there (the JNI library comes out of the jar):
#   1. libgptaq named by GPTAQ_LIBRARY_PATH,
#   2. libgptaq named by -Dgptaq.library.path,
#   3. libgptaq found by the dynamic loader (LD_LIBRARY_PATH),
#   4. the jar used in place in PREFIX/share/java (libgptaq_jni in PREFIX/LIBDIR/jni, RUNPATH),
# each asserting codes == DATA/cli/codes.npy. Also checks the Maven repository layout
# and what the jar carries.
#
# usage: run_consumer.sh PREFIX DATA WORK JAVAC JAVA JAR VERSION PLATFORM JAVA_DIR MAVEN_DIR LIBDIR
set -euo pipefail
prefix=$1 data=$2 work=$3 javac=$4 java=$5 jar=$6 version=$7 platform=$8 javadir=$9
mavendir=${10} libdir=${11}
src=$(cd "$(dirname "$0")" && pwd)

die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

installed_jar=$prefix/$javadir/gptaq.jar
[ -f "$installed_jar" ] || die "no $installed_jar"
lib=$prefix/$libdir
[ -f "$lib/libgptaq.so" ] || die "no $lib/libgptaq.so"

# Maven layout: org/gptaq/gptaq/<version>/gptaq-<version>.{pom,jar}
m=$prefix/$mavendir/org/gptaq/gptaq/$version
[ -f "$m/gptaq-$version.pom" ] || die "no $m/gptaq-$version.pom"
grep -q "<groupId>org.gptaq</groupId>" "$m/gptaq-$version.pom" || die "pom without groupId org.gptaq"
grep -q "<version>$version</version>" "$m/gptaq-$version.pom" || die "pom without version $version"
[ -f "$m/gptaq-$version.jar" ] || die "no $m/gptaq-$version.jar"
cmp -s "$m/gptaq-$version.jar" "$installed_jar" || die "the Maven repository's jar is not the installed jar"

# The jar carries its JNI library and the pom.
listing=$("$jar" --list --file "$installed_jar")
grep -qx "org/gptaq/native/$platform/libgptaq_jni.so" <<<"$listing" || die "jar lacks org/gptaq/native/$platform/libgptaq_jni.so"
grep -qx "META-INF/maven/org.gptaq/gptaq/pom.xml" <<<"$listing" || die "jar lacks its pom"

rm -rf "$work"
mkdir -p "$work/alone" "$work/classes"
cp "$installed_jar" "$work/alone/gptaq.jar"
"$javac" -d "$work/classes" -cp "$work/alone/gptaq.jar" "$src/Consumer.java"
cp_alone="$work/alone/gptaq.jar:$work/classes"

run() {  # label, then the command
  local label=$1 out
  shift
  out=$("$@" 2>&1) || { printf '%s\n' "$out"; die "$label: the consumer failed"; }
  printf '%s: %s\n' "$label" "$(tr '\n' ' ' <<<"$out")"
  grep -q "consumer run: OK" <<<"$out" || die "$label: no OK"
  LAST=$out
}

run "GPTAQ_LIBRARY_PATH" env -u LD_LIBRARY_PATH GPTAQ_LIBRARY_PATH="$lib" "$java" -cp "$cp_alone" Consumer "$data"
grep -q "JNI library from the jar" <<<"$LAST" || die "the jar copied alone did not use its bundled JNI library"
run "-Dgptaq.library.path" env -u LD_LIBRARY_PATH -u GPTAQ_LIBRARY_PATH "$java" -Dgptaq.library.path="$lib" -cp "$cp_alone" Consumer "$data"
run "LD_LIBRARY_PATH" env -u GPTAQ_LIBRARY_PATH LD_LIBRARY_PATH="$lib" "$java" -cp "$cp_alone" Consumer "$data"
grep -q "by the dynamic loader" <<<"$LAST" || die "expected libgptaq from the dynamic loader"
run "installed layout" env -u LD_LIBRARY_PATH -u GPTAQ_LIBRARY_PATH "$java" -cp "$installed_jar:$work/classes" Consumer "$data"
grep -q "JNI library next to the jar: .*/jni/libgptaq_jni.so" <<<"$LAST" ||
  die "the installed jar did not use the installed JNI library in LIBDIR/jni"
[ -f "$prefix/$libdir/jni/libgptaq_jni.so" ] || die "libgptaq_jni.so not installed in $libdir/jni"
[ ! -e "$prefix/$javadir/libgptaq_jni.so" ] || die "libgptaq_jni.so installed in $javadir (arch-dependent file in share/)"

# Without any way to find libgptaq the error says what to set.
if out=$(cd "$work" && env -u LD_LIBRARY_PATH -u GPTAQ_LIBRARY_PATH "$java" -cp "$cp_alone" Consumer "$data" 2>&1); then
  die "ran without libgptaq reachable: $out"
fi
grep -q "GPTAQ_LIBRARY_PATH" <<<"$out" || die "the load error does not name GPTAQ_LIBRARY_PATH: $out"
echo "java consumer: OK"
