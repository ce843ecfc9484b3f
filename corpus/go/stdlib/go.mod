module corpus/stdlib

go 1.24
