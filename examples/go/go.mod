module github.com/gptaq/gptaq/examples/go

go 1.19

require github.com/gptaq/gptaq/bindings/go v0.0.0

replace github.com/gptaq/gptaq/bindings/go => ../../bindings/go
