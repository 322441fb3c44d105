module github.com/gptaq/gptaq/bindings/go

go 1.19
