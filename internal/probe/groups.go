package probe

// CanaryGroups splits probes into groups that may run at the same time
// as each other: two probes that share a canary user (CanaryKeys), also
// through a chain of other probes, are in one group, and a group's runs
// must go one after another. Groups are in the order of their first
// probe, and each group keeps the order of probes; the values are
// indexes into probes.
func CanaryGroups(probes []*Probe) [][]int {
	parent := make([]int, len(probes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	owner := map[string]int{} // canary key → first probe that uses it
	for i, p := range probes {
		for _, k := range p.CanaryKeys() {
			j, ok := owner[k]
			if !ok {
				owner[k] = i
				continue
			}
			// The smaller index becomes the root, so a group's root is its
			// first probe.
			a, b := find(i), find(j)
			if a > b {
				a, b = b, a
			}
			parent[b] = a
		}
	}
	slot := map[int]int{} // root → index in groups
	var groups [][]int
	for i := range probes {
		root := find(i)
		g, ok := slot[root]
		if !ok {
			g = len(groups)
			slot[root] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}
