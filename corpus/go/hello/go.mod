module corpus/hello

go 1.24
