package sqlite

import "github.com/limp-go/limp/internal/schema"

// Image returns doc as Read returns it once Insert has stored it (the
// store.Imager of the change feed): encoded as Insert encodes it and
// decoded as Read decodes it, so types match a read exactly; nil for a
// document inserted soft-deleted, which Read does not return.
func (s *Store) Image(c *schema.Collection, doc map[string]any) (map[string]any, error) {
	if doc[deletedField] == true {
		return nil, nil
	}
	id, body, err := encodeDoc(doc)
	if err != nil {
		return nil, err
	}
	return decodeDoc(c, id.Hex(), body)
}
