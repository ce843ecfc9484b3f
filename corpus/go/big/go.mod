module corpus/big

go 1.24
