// go/reactor: a Go WASI reactor (go build -buildmode=c-shared). The host calls
// _initialize, then the //go:wasmexport functions, which reach env.pause.
package main

import "fmt"

//go:wasmimport env pause
func pause(n int32) int32

var counter int32

//go:wasmexport add_paused
func addPaused(a, b int32) int32 {
	r := pause(a) + pause(b)
	fmt.Printf("add_paused(%d, %d) = %d\n", a, b, r)
	return r
}

//go:wasmexport count
func count(n int32) int32 {
	for i := int32(0); i < n; i++ {
		counter += pause(i) * 2
	}
	fmt.Printf("count(%d): counter=%d\n", n, counter)
	return counter
}

//go:wasmexport square
func square(x int32) int32 { return x * x }

func main() {} // required, not called in c-shared mode
