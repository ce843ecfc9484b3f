// go/ticker: a Go WASI reactor (go build -buildmode=c-shared) whose init
// starts a goroutine that sleeps and feeds a channel. Each call of the
// //go:wasmexport function next() blocks on that channel: the goroutine
// must have survived the previous export returns, and its sleeps go
// through poll_oneoff (an asyncio sleep under asyncpy.host).
package main

import "time"

var ticks = make(chan int32)
var sent int32

func init() {
	go func() {
		for i := int32(1); ; i++ {
			time.Sleep(2 * time.Millisecond)
			sent = i
			ticks <- i * 10
		}
	}()
}

//go:wasmexport next
func next() int32 { return <-ticks }

//go:wasmexport sent
func sentSoFar() int32 { return sent }

func main() {} // required, not called in c-shared mode
