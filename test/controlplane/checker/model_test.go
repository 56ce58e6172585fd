package main

// The model's step function on its own: how unknown lastIndexes are bounded
// and pinned down, and how failures are justified.

import "testing"

func TestModelStep(t *testing.T) {
	keys := newKeyTable()
	k := keys.id("k")
	write := func(status Status, code string, idx int64, muts ...Mutation) *input {
		in := &input{op: &Op{ID: "x", Kind: "batch", Muts: muts}, status: status, code: code, putIndex: idx, keys: keys}
		for _, m := range muts {
			in.muts = append(in.muts, mutation{Mutation: m, k: keys.id(m.Key)})
		}
		return in
	}
	read := func(value string, idx int64) *input {
		return &input{reads: []readExpect{{k: k, found: value != "", value: value, lastIndex: idx}}, keys: keys}
	}
	putK := func(v string, e Expect) Mutation { return Mutation{Key: "k", Value: v, Expect: e} }
	none, absent := Expect{}, Expect{Kind: ExpectAbsent}
	index := func(n int64) Expect { return Expect{Kind: ExpectIndex, Index: n} }

	s0 := make(state, keys.len())
	ok, s1 := step(s0, write(StatusOK, "", 5, putK("a", none)))
	if !ok || s1[k] != (keyState{present: true, value: "a", idx: 5, exact: true}) {
		t.Fatalf("put: %v %+v", ok, s1)
	}
	// An unknown put taking effect: its index is only known to exceed 5.
	_, s2 := step(s1, write(StatusUnknown, "", 0, putK("b", none)))
	if s2[k] != (keyState{present: true, value: "b", idx: 6}) {
		t.Fatalf("unknown put: %+v", s2[k])
	}
	// Reads: an index below the bound is impossible, one above pins it.
	if ok, _ := step(s2, read("b", 5)); ok {
		t.Fatal("read of b@5 accepted")
	}
	ok, s3 := step(s2, read("b", 9))
	if !ok || s3[k] != (keyState{present: true, value: "b", idx: 9, exact: true}) {
		t.Fatalf("read pins the index: %v %+v", ok, s3[k])
	}
	// On the unknown index, prev=9 may hold (ok) or not (KEY_MODIFIED);
	// prev=4 cannot hold; an acknowledged put must exceed the bound.
	if ok, _ := step(s2, write(StatusOK, "", 10, putK("c", index(9)))); !ok {
		t.Fatal("atomicPut prev=9 on an unknown index >= 6 refused")
	}
	if ok, _ := step(s2, write(StatusFail, "KEY_MODIFIED", 0, putK("c", index(9)))); !ok {
		t.Fatal("KEY_MODIFIED on an unknown index refused")
	}
	if ok, _ := step(s2, write(StatusOK, "", 10, putK("c", index(4)))); ok {
		t.Fatal("atomicPut prev=4 accepted on an index >= 6")
	}
	if ok, _ := step(s2, write(StatusOK, "", 6, putK("c", none))); ok {
		t.Fatal("put at 6 accepted after an unknown write that got at least 6")
	}
	// Failures need a false condition with that code; they change nothing.
	if ok, _ := step(s1, write(StatusFail, "KEY_NOT_FOUND", 0, putK("c", absent))); ok {
		t.Fatal("KEY_NOT_FOUND for a create-only put accepted")
	}
	ok, s4 := step(s1, write(StatusFail, "KEY_EXISTS", 0, putK("c", absent)))
	if !ok || s4[k] != s1[k] {
		t.Fatalf("KEY_EXISTS on a present key: %v %+v", ok, s4[k])
	}
	// An unknown write whose condition is false changes nothing.
	ok, s5 := step(s1, write(StatusUnknown, "", 0, putK("c", index(3))))
	if !ok || s5[k] != s1[k] {
		t.Fatalf("unknown write with a false condition: %v %+v", ok, s5[k])
	}
	// Deletes keep the index as the floor of the next put.
	_, s6 := step(s1, write(StatusOK, "", 0, Mutation{Delete: true, Key: "k"}))
	if ok, _ := step(s6, write(StatusOK, "", 5, putK("d", none))); ok {
		t.Fatal("re-create at the deleted index accepted")
	}
}
