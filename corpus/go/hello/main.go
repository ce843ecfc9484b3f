// go/hello: goroutines that sleep (time.Sleep) and talk over channels, plus
// direct calls to the pausing import env.pause. The output order is fixed by
// the channels, not by the sleeps, so it is deterministic.
package main

import (
	"fmt"
	"sync"
	"time"
)

//go:wasmimport env pause
func pause(n int32) int32

func worker(id int, jobs <-chan int, results chan<- int, wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range jobs {
		time.Sleep(time.Duration(1+(id*j)%3) * time.Millisecond)
		results <- j * j
	}
}

func main() {
	fmt.Println("hello from go/hello")

	// ping-pong between two goroutines over unbuffered channels
	ping, pong := make(chan int), make(chan int)
	done := make(chan struct{})
	go func() {
		for v := range ping {
			time.Sleep(time.Millisecond)
			pong <- v + 1
		}
		close(done)
	}()
	v := 0
	for i := 0; i < 5; i++ {
		ping <- v
		v = <-pong
		v += int(pause(int32(v)))
		fmt.Printf("round %d: v=%d\n", i, v)
	}
	close(ping)
	<-done

	// worker pool; results are summed so arrival order does not matter
	jobs, results := make(chan int, 16), make(chan int, 16)
	var wg sync.WaitGroup
	for w := 1; w <= 3; w++ {
		wg.Add(1)
		go worker(w, jobs, results, &wg)
	}
	for j := 1; j <= 12; j++ {
		jobs <- j
	}
	close(jobs)
	go func() { wg.Wait(); close(results) }()
	sum, n := 0, 0
	for r := range results {
		sum += r
		n++
	}
	fmt.Printf("workers: %d results, sum of squares %d\n", n, sum)

	// a ticker-like loop with sleeps and pauses
	total := int32(0)
	for i := int32(0); i < 4; i++ {
		time.Sleep(2 * time.Millisecond)
		total += pause(i * 10)
	}
	fmt.Printf("pause total %d\n", total)
	fmt.Println("bye")
}
