module corpus/ticker

go 1.24
