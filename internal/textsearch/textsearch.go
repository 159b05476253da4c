// Package textsearch is MongoDB's text search (text index version 3,
// language "none": no stemming, no stop words) in Go, for the embedded
// store: how a document's strings become index terms, and how a `$search`
// string becomes positive and negated terms and phrases.
//
// Terms: a text splits into words at delimiters (characters with the
// Unicode properties White_Space, Dash, Hyphen, Quotation_Mark,
// Terminal_Punctuation, Sentence_Terminal or Pattern_Syntax, as MongoDB's
// unicode tokenizer); everything else, including CJK runs without spaces,
// belongs to a word. Each word is folded: decomposed (NFD), stripped of
// diacritics (the Unicode Diacritic property: Latin accents, Arabic
// harakat, Hebrew points, ...), recomposed, and case folded (simple
// folding in every script, so Cyrillic and Greek too), so search is case-
// and diacritic-insensitive everywhere.
//
// Phrases match as MongoDB's do: a folded substring of a folded field
// value (the words of a positive phrase also count as terms).
package textsearch

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// IsDelimiter reports whether r separates words.
func IsDelimiter(r rune) bool {
	return unicode.In(r, unicode.White_Space, unicode.Dash, unicode.Hyphen, unicode.Quotation_Mark,
		unicode.Terminal_Punctuation, unicode.Sentence_Terminal, unicode.Pattern_Syntax)
}

// Fold returns s case folded and stripped of diacritics, delimiters kept
// (MongoDB's caseFoldAndStripDiacritics).
func Fold(s string) string {
	if isASCIILower(s) {
		return s
	}
	// Invalid UTF-8 (which BSON cannot hold) is dropped first.
	d := norm.NFD.String(strings.ToValidUTF8(s, ""))
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Diacritic, r) {
			continue
		}
		b.WriteRune(foldRune(r))
	}
	return norm.NFC.String(b.String())
}

func isASCIILower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || 'A' <= c && c <= 'Z' || c == '^' || c == '`' {
			return false
		}
	}
	return true
}

// foldRune is simple case folding: every member of a case orbit maps to
// the same rune (the lower case of its upper case: 'ſ' and 'S' to 's', 'ς'
// and 'Σ' to 'σ').
func foldRune(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }

// Words returns the folded words of s, in order (empty words, made only
// of diacritics, are dropped).
func Words(s string) []string {
	var out []string
	for w := range strings.FieldsFuncSeq(s, IsDelimiter) {
		if f := Fold(w); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Query is a parsed `$search` string (MongoDB's $text $search), every
// term and phrase folded.
type Query struct {
	// Terms: a document matches when it holds one of them (a phrase's
	// words are terms too).
	Terms []string
	// Negated terms exclude the documents holding them.
	Negated []string
	// Phrases must all be substrings of one of the document's folded
	// values; NegatedPhrases exclude documents holding them.
	Phrases, NegatedPhrases []string
}

// Parse parses a `$search` string as MongoDB does: a word preceded by
// whitespace and "-" is negated (a negation lasts until the next
// whitespace: "-a-b" negates both), text between double quotes is a
// phrase ("-" right before the opening quote negates it; the words of a
// negated phrase are not terms), an unclosed quote leaves its words as
// plain terms; everything else is words. Duplicate terms are dropped. A
// NUL ends the search string (MongoDB reads it as a C string).
func Parse(s string) Query {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	var q Query
	var pos, neg strings.Builder
	inNeg, inPhrase := false, false
	quote := 0
	prevSpace := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case isSpace(r):
			prevSpace = true
			i += n
			continue
		case r == '-':
			if !inPhrase && prevSpace {
				inNeg = true
			}
		case r == '"':
			if inPhrase {
				p := Fold(s[quote+1 : i])
				if inNeg {
					q.NegatedPhrases = append(q.NegatedPhrases, p)
				} else {
					q.Phrases = append(q.Phrases, p)
				}
				inPhrase = false
			} else {
				inPhrase = true
				if inNeg && prevSpace {
					inNeg = false
				}
				quote = i
			}
		default:
			j := i
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if isSpace(r) || r == '-' || r == '"' {
					break
				}
				j += n
			}
			if !(inPhrase && inNeg) {
				if inNeg && prevSpace {
					inNeg = false
				}
				if inNeg {
					neg.WriteString(s[i:j] + " ")
				} else {
					pos.WriteString(s[i:j] + " ")
				}
			}
			prevSpace = false
			i = j
			continue
		}
		prevSpace = false
		i += n
	}
	q.Terms = dedup(Words(pos.String()))
	q.Negated = dedup(Words(neg.String()))
	return q
}

// isSpace is the whitespace MongoDB's query parser skips.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

func dedup(ws []string) []string {
	seen := map[string]bool{}
	out := ws[:0]
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}
