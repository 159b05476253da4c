package sqlite

import (
	"strings"

	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/textsearch"
)

// The full-text table "f_<name>"(content, raw) of a collection with search
// attrs follows MongoDB's text index (version 3, language "none"; see
// internal/textsearch): content holds the document's words as
// textsearch.Words makes them (folded, split at MongoDB's delimiters),
// separated by spaces, and the tokenizer only splits at spaces (every
// character class but separators is a token character, no diacritic
// removal of its own), so FTS5 indexes exactly MongoDB's terms; raw (not
// indexed) holds each folded value on its own line, for phrases, which
// MongoDB matches as substrings.
const ftsColumns = ` USING fts5(content, raw UNINDEXED, tokenize = "unicode61 remove_diacritics 0 categories 'L* M* N* P* S* C*'")`

// ftsVersion prefixes the search attrs recorded in limp_meta: a table of
// an older layout is rebuilt by Sync.
const ftsVersion = "v2:"

// ftsEntry is one document's row of the full-text table.
type ftsEntry struct {
	terms string // words, space-separated
	raw   string // folded values, one per line
}

func newFTSEntry(values []string) ftsEntry {
	var terms, raw []string
	for _, v := range values {
		for _, w := range textsearch.Words(v) {
			// FTS5 reads its input as C strings: a NUL inside a word
			// (no delimiter for MongoDB) is stored as U+2400.
			terms = append(terms, strings.ReplaceAll(w, "\x00", "\u2400"))
		}
		raw = append(raw, textsearch.Fold(v))
	}
	return ftsEntry{terms: strings.Join(terms, " "), raw: strings.Join(raw, "\n")}
}

// ftsInsert is the statement adding (rowid, terms, raw) to c's table.
func ftsInsert(c *schema.Collection) string {
	return "INSERT INTO " + ftsName(c.Name) + " (rowid, content, raw) VALUES (?, ?, ?)"
}

// searchSQL compiles a `$search` string to MongoDB's $text semantics over
// the full-text table f: an FTS5 match of the positive terms (any of
// them) without the negated ones, and a condition per phrase (every
// positive phrase a substring of raw, no negated one). A search without
// positive terms matches nothing (MongoDB needs one for its index
// lookup): match is "" then.
func searchSQL(s string) (match string, phrases, negated []string) {
	q := textsearch.Parse(s)
	if len(q.Terms) == 0 {
		return "", nil, nil
	}
	quote := func(ws []string) string {
		qs := make([]string, len(ws))
		for i, w := range ws {
			qs[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
		}
		return strings.Join(qs, " OR ")
	}
	match = quote(q.Terms)
	if len(q.Negated) > 0 {
		match = "(" + match + ") NOT (" + quote(q.Negated) + ")"
	}
	return match, q.Phrases, q.NegatedPhrases
}
