package jobs

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestStepCacheFollowsStore holds the step decode cache to the store: a
// loaded step changed in place does not change the next load, a step
// rewritten (committed or rolled back) is read as stored, and a full cache
// drops entries and still answers from the store.
func TestStepCacheFollowsStore(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "runnel.db"), time.Second)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := newJobID()
	j := &Job{ID: id, Workspace: "ws", Task: "t", Status: JobPending}
	mk := func(name string, order int) *Step {
		return &Step{Name: name, Action: "a", Status: StepPending, Order: order,
			Input: map[string]any{"k": []any{"v", map[string]any{"n": 1.0}}}, DependsOn: []string{}, Tags: []string{"shell"}}
	}
	if err := s.update(func(tx *txn) error {
		tx.newState(j, []*Step{mk("a", 0), mk("b", 1)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	load := func() []*Step {
		t.Helper()
		var steps []*Step
		if err := s.view(func(tx *txn) error {
			var err error
			steps, err = tx.getSteps(id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return steps
	}
	enc := func(v any) string {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := enc(load())
	// Changed in place (maps, slices, fields): the next load is as stored.
	got := load()
	got[0].Input.(map[string]any)["k"].([]any)[1].(map[string]any)["n"] = 2.0
	got[0].Tags[0] = "gpu"
	got[0].DependsOn = append(got[0].DependsOn, "x")
	got[1].Status = StepFailed
	if again := enc(load()); again != want {
		t.Fatalf("load after in-place changes = %s, want %s", again, want)
	}
	// A rewrite is read as stored; a rolled-back one is not.
	if err := s.update(func(tx *txn) error {
		st, err := tx.load(id)
		if err != nil {
			return err
		}
		b := st.step("b")
		b.Output = map[string]any{"x": "y"}
		return st.moveStep(b, stepDispatch, time.Now(), "")
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.update(func(tx *txn) error {
		st, err := tx.load(id)
		if err != nil {
			return err
		}
		st.step("a").Status = StepFailed
		st.touchStep(st.step("a"))
		if err := tx.flush(); err != nil {
			return err
		}
		return errStale // rolls back
	})
	steps := load()
	if steps[0].Status != StepPending || steps[1].Status != StepReady || !reflect.DeepEqual(steps[1].Output, map[string]any{"x": "y"}) {
		t.Errorf("after rewrite: a %s, b %s output %v; want pending, ready {x: y}", steps[0].Status, steps[1].Status, steps[1].Output)
	}
	// A full cache drops half its entries when it decodes; loads still
	// answer.
	for i := 0; len(s.decoded.m) < maxCachedSteps; i++ {
		s.decoded.m[string(rune(i))] = &cachedStep{}
	}
	if err := s.update(func(tx *txn) error {
		st, err := tx.load(id)
		if err != nil {
			return err
		}
		return st.moveStep(st.step("a"), stepDispatch, time.Now(), "")
	}); err != nil {
		t.Fatal(err)
	}
	if got := load(); len(got) != 2 || got[0].Status != StepReady || got[1].Status != StepReady {
		t.Errorf("load with a full cache = %+v", got)
	}
	if n := len(s.decoded.m); n > maxCachedSteps/2+2 {
		t.Errorf("cache holds %d entries after filling, want ≤ %d", n, maxCachedSteps/2+2)
	}
}

// TestStepCloneCoversReferences fails when Step gains a field that shares
// memory between copies (a map, slice, pointer or interface) and
// Step.clone does not copy it: a step changed in place would change the
// decode cache's copy.
func TestStepCloneCoversReferences(t *testing.T) {
	cloned := map[string]bool{"Input": true, "Output": true, "DependsOn": true, "Tags": true,
		"Attempts": true, "Item": true, "Retry": true, "Approval": true}
	typ := reflect.TypeFor[Step]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			if !cloned[f.Name] {
				t.Errorf("Step.%s (%s) is shared by copies: copy it in Step.clone (stepcache.go) and list it here", f.Name, f.Type)
			}
		}
	}
}
