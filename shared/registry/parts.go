package registry

import (
	"errors"
	"fmt"
	"strings"
)

// MissingParts returns an Invalid error naming the parts of the file at
// path that are not among got (ascending part numbers received), or nil
// when all of 1..parts arrived.
func MissingParts(path string, got []int, parts int) error {
	m := missingParts(got, parts)
	if len(m) == 0 {
		return nil
	}
	return Wrap(Invalid, ErrPartsMissing, "file %s: %s missing", path, describeParts(m))
}

// ErrPartsMissing is the cause of the Invalid error Artifacts.Complete gives
// when parts have not arrived yet: nothing is wrong with what did arrive,
// so the parts are kept and the client sends the rest.
var ErrPartsMissing = errors.New("parts missing")

// missing returns the numbers in 1..parts that are not in got (ascending).
func missingParts(got []int, parts int) []int {
	var m []int
	i := 0
	for n := 1; n <= parts; n++ {
		for i < len(got) && got[i] < n {
			i++
		}
		if i < len(got) && got[i] == n {
			continue
		}
		m = append(m, n)
	}
	return m
}

// describeParts describes ascending part numbers compactly: "part 3",
// "parts 3, 7", "parts 1-64, 70".
func describeParts(nums []int) string {
	const maxRanges = 10
	var b strings.Builder
	ranges := 0
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if ranges == maxRanges {
			fmt.Fprintf(&b, ", … (%d in all)", len(nums))
			break
		}
		if ranges > 0 {
			b.WriteString(", ")
		}
		if i == j {
			fmt.Fprintf(&b, "%d", nums[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", nums[i], nums[j])
		}
		ranges++
		i = j + 1
	}
	if len(nums) == 1 {
		return "part " + b.String()
	}
	return "parts " + b.String()
}
