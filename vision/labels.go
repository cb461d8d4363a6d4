package vision

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// imagenet1k holds the ImageNet-1k class list (index, WordNet synset, name)
// that timm's ImageNet classifiers predict; it is the default LABELS.
//
//go:embed imagenet1k-classes.tsv
var imagenet1k []byte

// Class is one class a model predicts.
type Class struct {
	Index  int
	Synset string // WordNet id such as "n01440764"; empty for plain name lists
	Name   string
}

// ImageNet1k returns the shipped ImageNet-1k class list (1000 classes).
func ImageNet1k() []Class {
	classes, err := parseLabels(imagenet1k, "imagenet1k-classes.tsv")
	if err != nil {
		panic("vision: shipped ImageNet labels are invalid: " + err.Error())
	}
	return classes
}

// LoadLabels reads a class list from a file in either of two forms:
//   - a TSV whose first line is the header "index synset name" (tab
//     separated), with one row per class, indices 0..K-1 in any order;
//   - plain text with one class name per line (line n is class n-1); blank
//     lines at the end are ignored.
func LoadLabels(path string) ([]Class, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	return parseLabels(data, path)
}

func parseLabels(data []byte, name string) ([]Class, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("labels %s: %w", name, err)
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("labels %s: the file is empty; give one class name per line or a TSV with the header \"index\tsynset\tname\"", name)
	}
	header := strings.Split(strings.ToLower(lines[0]), "\t")
	if len(header) != 3 || header[0] != "index" || header[1] != "synset" || header[2] != "name" {
		classes := make([]Class, len(lines))
		for i, l := range lines {
			l = strings.TrimSpace(l)
			if l == "" {
				return nil, fmt.Errorf("labels %s:%d: empty class name", name, i+1)
			}
			classes[i] = Class{Index: i, Name: l}
		}
		return classes, nil
	}
	rows := lines[1:]
	classes := make([]Class, len(rows))
	seen := make([]bool, len(rows))
	for i, l := range rows {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("labels %s:%d: want 3 tab-separated fields (index, synset, name), got %d", name, i+2, len(f))
		}
		idx, err := strconv.Atoi(strings.TrimSpace(f[0]))
		if err != nil || idx < 0 || idx >= len(rows) {
			return nil, fmt.Errorf("labels %s:%d: index %q is not between 0 and %d", name, i+2, f[0], len(rows)-1)
		}
		if seen[idx] {
			return nil, fmt.Errorf("labels %s:%d: index %d appears twice", name, i+2, idx)
		}
		seen[idx] = true
		n := strings.TrimSpace(f[2])
		if n == "" {
			return nil, fmt.Errorf("labels %s:%d: empty class name", name, i+2)
		}
		classes[idx] = Class{Index: idx, Synset: strings.TrimSpace(f[1]), Name: n}
	}
	return classes, nil
}
