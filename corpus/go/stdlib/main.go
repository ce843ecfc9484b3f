// go/stdlib: a big standard-library-only Go program (about 18 MB for
// wasip1) for the scale benchmark (python -m bench --big). It type-checks a
// small Go file with go/types, round-trips data through many encoders, runs
// templates, compresses, hashes and parses, and pauses through env.pause.
// Everything it prints is deterministic.
package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"compress/lzw"
	"compress/zlib"
	"container/heap"
	"container/list"
	"container/ring"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/ascii85"
	"encoding/asn1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/constant"
	"go/doc"
	"go/format"
	"go/parser"
	"go/printer"
	"go/scanner"
	"go/token"
	"go/types"
	"hash/adler32"
	"hash/crc32"
	"hash/crc64"
	"hash/fnv"
	"html"
	htemplate "html/template"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"index/suffixarray"
	"io"
	"log"
	"log/slog"
	"math"
	"math/big"
	"math/cmplx"
	"math/rand"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/mail"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	tscanner "text/scanner"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

//go:wasmimport env pause
func pause(n int32) int32

var sink []any

var _ embed.FS

const src = `package demo

import "fmt"

// Shape has an area.
type Shape interface{ Area() float64 }

type Rect struct{ W, H float64 }

func (r Rect) Area() float64 { return r.W * r.H }

const Answer = 6 * 7

func Sum(xs ...int) (t int) {
	for _, x := range xs {
		t += x
	}
	return
}

func main() { fmt.Println(Sum(1, 2, 3), Rect{2, 3}.Area()) }
`

type point struct {
	X, Y int
	Name string
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func check(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func main() {
	// keep big parts of the standard library linked in
	sink = append(sink, tar.NewReader, zip.NewReader, bzip2.NewReader, lzw.NewReader, aes.NewCipher,
		cipher.NewGCM, ecdh.P256, ed25519.GenerateKey, elliptic.P384, ascii85.NewEncoder, asn1.Marshal,
		gob.NewEncoder, gob.NewDecoder, pem.Decode, doc.New,
		gif.Encode, jpeg.Encode, draw.Draw, suffixarray.New, slog.New, cmplx.Sqrt, mime.TypeByExtension,
		multipart.NewReader, quotedprintable.NewReader, net.Dial, http.ListenAndServe, http.Get,
		cookiejar.New, httptest.NewRecorder, httputil.DumpRequest, mail.ParseAddress, textproto.NewReader, htemplate.New, log.New, flag.NewFlagSet,
		filepath.Glob, syntax.Parse, utf16.Encode, tscanner.Scanner{}, scanner.ScanComments, md5.New, sha1.New, io.Copy)

	acc := int32(0)
	step := func(label string, v int) {
		acc = pause(acc + int32(v))
		fmt.Printf("%-10s %d (pause %d)\n", label, v, acc)
	}

	// go/types: type-check a small package
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "demo.go", src, parser.ParseComments)
	check(err)
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{Importer: fakeImporter{}, Error: func(error) {}}
	pkg, _ := conf.Check("demo", fset, []*ast.File{f}, info)
	names := pkg.Scope().Names()
	fmt.Println("types:", strings.Join(names, ","))
	if c := pkg.Scope().Lookup("Answer"); c != nil {
		fmt.Println("answer:", constant.Val(c.(*types.Const).Val()))
	}
	var buf bytes.Buffer
	check(printer.Fprint(&buf, fset, f))
	formatted, err := format.Source(buf.Bytes())
	check(err)
	step("gofmt", len(formatted))
	var sc tscanner.Scanner
	_ = sc

	// encoders
	pts := []point{{1, 2, "a"}, {3, 4, "b<>"}, {5, 6, "c&d"}}
	js, _ := json.Marshal(pts)
	xm, _ := xml.Marshal(pts)
	var gb bytes.Buffer
	check(gob.NewEncoder(&gb).Encode(pts))
	var back []point
	check(gob.NewDecoder(&gb).Decode(&back))
	step("json", len(js))
	step("xml", len(xm))
	step("gob", len(back))
	var cw bytes.Buffer
	w := csv.NewWriter(&cw)
	for _, p := range pts {
		check(w.Write([]string{p.Name, strconv.Itoa(p.X), strconv.Itoa(p.Y)}))
	}
	w.Flush()
	step("csv", cw.Len())
	b32 := base32.StdEncoding.EncodeToString(js)
	b64 := base64.URLEncoding.EncodeToString(xm)
	step("base", len(b32)+len(b64)+len(hex.EncodeToString(js)))
	der, err := asn1.Marshal(struct{ A, B int }{1, 2})
	check(err)
	pemb := pem.EncodeToMemory(&pem.Block{Type: "DEMO", Bytes: der})
	step("pem", len(pemb))
	bin := make([]byte, 16)
	binary.LittleEndian.PutUint64(bin, 0x0102030405060708)
	step("binary", int(binary.BigEndian.Uint32(bin)))

	// compression and hashes
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 200)
	var zb, fb, gzb, lb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write(text)
	zw.Close()
	fw, _ := flate.NewWriter(&fb, flate.BestCompression)
	fw.Write(text)
	fw.Close()
	gw := gzip.NewWriter(&gzb)
	gw.Write(text)
	gw.Close()
	lw := lzw.NewWriter(&lb, lzw.LSB, 8)
	lw.Write(text)
	lw.Close()
	step("compress", zb.Len()+fb.Len()+gzb.Len()+lb.Len())
	zr, _ := zlib.NewReader(&zb)
	plain, _ := io.ReadAll(zr)
	step("inflate", len(plain))
	sum := sha256.Sum256(text)
	s512 := sha512.Sum512(text)
	mac := hmac.New(sha256.New, []byte("key"))
	mac.Write(text)
	fmt.Printf("hashes %x %x %x %08x %08x %016x %08x\n", sum[:4], s512[:4], mac.Sum(nil)[:4],
		crc32.ChecksumIEEE(text), adler32.Checksum(text), crc64.Checksum(text, crc64.MakeTable(crc64.ECMA)),
		func() uint32 { h := fnv.New32a(); h.Write(text); return h.Sum32() }())
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: int64(len(text)), ModTime: time.Unix(0, 0)})
	tw.Write(text)
	tw.Close()
	var zipb bytes.Buffer
	zpw := zip.NewWriter(&zipb)
	zf, _ := zpw.Create("a.txt")
	zf.Write(text)
	zpw.Close()
	step("archives", tb.Len()/512+zipb.Len()/100)
	block, _ := aes.NewCipher(bytes.Repeat([]byte{7}, 32))
	gcm, _ := cipher.NewGCM(block)
	sealed := gcm.Seal(nil, make([]byte, gcm.NonceSize()), text[:64], nil)
	step("aes-gcm", len(sealed))
	edk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	sig := ed25519.Sign(edk, text)
	fmt.Printf("ed25519 %x ok=%v\n", sig[:6], ed25519.Verify(edk.Public().(ed25519.PublicKey), text, sig))

	// numbers
	fact := new(big.Int).MulRange(1, 50)
	step("big", len(fact.String()))
	r := rand.New(rand.NewSource(42))
	h := &intHeap{}
	for i := 0; i < 20; i++ {
		heap.Push(h, r.Intn(1000))
	}
	first := heap.Pop(h).(int)
	step("heap", first)
	l := list.New()
	rg := ring.New(5)
	for i := 0; i < 5; i++ {
		l.PushBack(i)
		rg.Value = i
		rg = rg.Next()
	}
	step("lists", l.Len()+rg.Len())
	fmt.Printf("math %.4f %.4f %v\n", math.Sqrt(2), cmplx.Abs(complex(3, 4)), math.Inf(1))

	// text
	re := regexp.MustCompile(`(\w+)@(\w+)\.(org|com)`)
	step("regexp", len(re.FindAllString("ada@example.org bob@example.com x@y", -1)))
	tmpl := template.Must(template.New("t").Parse(`{{range .}}{{.Name}}={{.X}};{{end}}`))
	var out bytes.Buffer
	check(tmpl.Execute(&out, pts))
	fmt.Println("template:", out.String())
	ht := htemplate.Must(htemplate.New("h").Parse(`<p>{{range .}}{{.Name}} {{end}}</p>`))
	out.Reset()
	check(ht.Execute(&out, pts))
	fmt.Println("html/template:", out.String(), html.UnescapeString("&lt;ok&gt;"))
	var tabs bytes.Buffer
	tab := tabwriter.NewWriter(&tabs, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tab, "a\tbb\tccc")
	fmt.Fprintln(tab, "dddd\te\tf")
	tab.Flush()
	step("tabwriter", tabs.Len())
	words := strings.Fields("zeta alpha mu beta alpha")
	sort.Strings(words)
	words = slices.Compact(words)
	fmt.Println("words:", strings.Join(words, " "), unicode.IsUpper('Q'), utf8.RuneCountInString("héllo"))
	idx := suffixarray.New(text)
	step("suffix", len(idx.Lookup([]byte("fox"), -1)))

	// net-ish things that need no network
	u, err := url.Parse("https://user@example.org:8080/a/b?q=1&r=two#frag")
	check(err)
	fmt.Println("url:", u.Hostname(), u.Port(), u.Query().Get("r"), path.Base(u.Path))
	addr, err := mail.ParseAddress("Ada Lovelace <ada@example.org>")
	check(err)
	fmt.Println("mail:", addr.Name, addr.Address)
	ip := netip.MustParseAddr("192.168.1.10")
	pfx := netip.MustParsePrefix("192.168.0.0/16")
	fmt.Println("netip:", pfx.Contains(ip), ip.Is4())
	req := httptest.NewRequest("GET", "/hello?name=go", nil)
	rec := httptest.NewRecorder()
	http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	}).ServeHTTP(rec, req)
	fmt.Println("http:", rec.Code, rec.Body.String())
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok"
	hr, err := http.ReadResponse(bufio.NewReader(strings.NewReader(resp)), nil)
	check(err)
	body, _ := io.ReadAll(hr.Body)
	fmt.Println("response:", hr.StatusCode, hr.Header.Get("X-A"), string(body))
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	mw.SetBoundary("XYZ")
	mw.WriteField("a", "1")
	mw.Close()
	step("multipart", mb.Len())

	// logging, sync, images
	var lb2 bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lb2, &slog.HandlerOptions{ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	logger.Info("done", "n", 3)
	fmt.Print("slog: ", lb2.String())
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 1; i <= 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			mu.Lock()
			total += i * i
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	step("goroutines", total)
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for x := 0; x < 8; x++ {
		img.Set(x, x, color.RGBA{255, uint8(x * 30), 0, 255})
	}
	var pb bytes.Buffer
	check(png.Encode(&pb, img))
	step("png", pb.Len())
	fmt.Println("errors:", errors.Is(fmt.Errorf("wrap: %w", io.EOF), io.EOF), filepath.Ext("a/b.go"))
	fmt.Println("total pause", acc)
}

type fakeImporter struct{}

func (fakeImporter) Import(path string) (*types.Package, error) {
	p := types.NewPackage(path, path)
	sig := types.NewSignatureType(nil, nil, nil, types.NewTuple(types.NewVar(token.NoPos, p, "a", types.NewSlice(types.Universe.Lookup("any").Type()))), nil, true)
	p.Scope().Insert(types.NewFunc(token.NoPos, p, "Println", sig))
	p.MarkComplete()
	return p, nil
}
