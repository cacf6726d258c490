package render

import (
	"fmt"
	"sort"
	"text/template"
)

// notRepeatable are the functions of Sprig whose result is not fixed by
// their arguments: the time, a random value, a salt, a key or a certificate
// made anew. The hub renders a revision again for each cluster and after
// every restart (its memo of renders is in memory) and writes the Works whose
// render changed, so such a result would reach every cluster at once, outside
// the Rollout's waves, approvals and freezes: a team's value run through tpl
// could turn `{{ if gt (now | unixEpoch) T }}` into another image on every
// cluster at the hub's next restart after T, and a chart's made-up password
// would change at each restart under a database that keeps the old one.
var notRepeatable = []string{
	"now", "ago",
	"randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle",
	"bcrypt", "htpasswd", "encryptAES",
	"genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey",
	"genSignedCert", "genSignedCertWithKey",
}

// repeatable makes a Helm render the same every time: the functions of
// notRepeatable are refused (when called, so a chart that calls one only
// when a value is missing, as Bitnami's do for passwords, renders once the
// value is given), and keys and values, whose order in Sprig is a map's,
// come in the order of the keys.
func repeatable(fm template.FuncMap, sp template.FuncMap) {
	for _, name := range notRepeatable {
		fm[name] = func(...any) (any, error) {
			return nil, fmt.Errorf("%s gives another result at every render (the time, a random value), and Flotilla renders a revision again "+
				"for each cluster and after every restart of the hub, where a changed result would reach every cluster at once, outside the "+
				"Rollout's waves; give the value in the Promise's values or the instance (a password, a key: an existing Secret), or make it on "+
				"the member (cert-manager): %w", name, ErrNotRepeatable)
		}
	}
	keys := sp["keys"].(func(...map[string]any) []string)
	fm["keys"] = func(dicts ...map[string]any) []string {
		k := keys(dicts...)
		sort.Strings(k)
		return k
	}
	fm["values"] = func(dict map[string]any) []any {
		k := keys(dict)
		sort.Strings(k)
		v := make([]any, len(k))
		for i, key := range k {
			v[i] = dict[key]
		}
		return v
	}
}
