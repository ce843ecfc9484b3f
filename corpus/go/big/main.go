// go/big: a larger Go program (encoding/json, regexp, text/template, sort,
// strings, goroutines) with calls to the pausing import env.pause.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

//go:wasmimport env pause
func pause(n int32) int32

type Item struct {
	Name  string   `json:"name"`
	Price float64  `json:"price"`
	Tags  []string `json:"tags"`
	Qty   int      `json:"qty"`
}

type Order struct {
	ID    int    `json:"id"`
	Owner string `json:"owner"`
	Items []Item `json:"items"`
}

const input = `[
 {"id": 1, "owner": "ada@example.org", "items": [
   {"name": "widget", "price": 2.5, "tags": ["metal", "small"], "qty": 4},
   {"name": "gadget", "price": 10, "tags": ["plastic"], "qty": 1}]},
 {"id": 2, "owner": "bob@example.com", "items": [
   {"name": "sprocket", "price": 0.75, "tags": ["metal"], "qty": 12}]},
 {"id": 3, "owner": "not-an-email", "items": []}
]`

var report = template.Must(template.New("r").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"join":  strings.Join,
}).Parse(`{{range .}}order {{.ID}} by {{upper .Owner}}: {{len .Items}} item(s){{range .Items}}
  - {{.Name}} x{{.Qty}} @ {{printf "%.2f" .Price}} [{{join .Tags ","}}]{{end}}
{{end}}`))

func main() {
	var orders []Order
	if err := json.Unmarshal([]byte(input), &orders); err != nil {
		fmt.Println("json error:", err)
		os.Exit(1)
	}

	// template rendering
	if err := report.Execute(os.Stdout, orders); err != nil {
		fmt.Println("template error:", err)
		os.Exit(1)
	}

	// regexp over the owners
	email := regexp.MustCompile(`^([a-z]+)@([a-z]+)\.(org|com)$`)
	for _, o := range orders {
		if m := email.FindStringSubmatch(o.Owner); m != nil {
			fmt.Printf("owner %d: user=%s domain=%s tld=%s\n", o.ID, m[1], m[2], m[3])
		} else {
			fmt.Printf("owner %d: %q is not an email\n", o.ID, o.Owner)
		}
	}

	// totals computed by goroutines, each pausing once, gathered in order
	type total struct {
		id  int
		sum float64
		tok int32
	}
	ch := make(chan total)
	for _, o := range orders {
		go func(o Order) {
			time.Sleep(time.Duration(4-o.ID) * time.Millisecond)
			s := 0.0
			for _, it := range o.Items {
				s += it.Price * float64(it.Qty)
			}
			ch <- total{o.ID, s, pause(int32(o.ID))}
		}(o)
	}
	totals := make([]total, 0, len(orders))
	for range orders {
		totals = append(totals, <-ch)
	}
	sort.Slice(totals, func(i, j int) bool { return totals[i].id < totals[j].id })
	for _, t := range totals {
		fmt.Printf("total %d: %.2f (pause token %d)\n", t.id, t.sum, t.tok)
	}

	// re-encode a summary as JSON (map keys are sorted by encoding/json)
	tags := map[string]int{}
	for _, o := range orders {
		for _, it := range o.Items {
			for _, t := range it.Tags {
				tags[t] += it.Qty
			}
		}
	}
	out, _ := json.Marshal(map[string]any{"orders": len(orders), "tags": tags})
	fmt.Println(string(out))
}
