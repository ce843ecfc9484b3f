module corpus/reactor

go 1.24
