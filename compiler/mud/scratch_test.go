package mud

import (
	"fmt"
	"testing"
)

func TestScratch(t *testing.T) {
	const acl = `"ietf-access-control-list:acls":{"acl":[{"name":"a","aces":{"ace":[%s]}}]}`
	const pol = `"from-device-policy":{"access-lists":{"access-list":[{"name":"a"}]}}`
	wrap := func(ace string) string {
		return `{"ietf-mud:mud":{` + pol + `},` + fmt.Sprintf(acl, ace) + `}`
	}
	cases := []string{
		``,
		`   `,
		`{"ietf-mud:mud": {`,
		"{\n  \"ietf-mud:mud\": {},\n}",
		`{"ietf-mud:mud": {}} x`,
		`[1]`,
		`{"acls": {}}`,
		`{"ietf-mud:mud": {}, "mud": {}}`,
		"{\"ietf-mud:mud\": {\"mud-url\": \"a\",\n \"mud-url\": \"b\"}}",
		`{"ietf-mud:mud":{` + pol + `}}`,
		`{"ietf-mud:mud":{` + pol + `},` + `"ietf-access-control-list:acls":{"acl":[{"name":"b"}]}}`,
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"operator":"approx","port":80}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"lower-port":90,"upper-port":80}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"operator":"eq","port":70000}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"operator":"eq","port":-1}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"operator":"eq","port":80,"lower-port":1}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"operator":"eq"}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"destination-port":{"operator":"eq","port":80,"step":2}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{"protocol":17},"tcp":{}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{},"ipv6":{}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{},"udp":{}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{"destination-ipv4-network":"10.0.0.0/33"}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{"destination-ipv4-network":"2001:db8::/32"}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"tcp":{"ietf-mud:direction-initiated":"sideways"}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{},"actions":{"forwarding":"maybe"}}`),
		wrap(`{"name":"x","matches":{}}`),
		wrap(`{"name":"x","matches":{},"actions":{}}`),
		wrap(`{"name":"x","matches":{"ietf-mud:mud":{"same-manufacturer":"yes"}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ietf-mud:mud":{"controller":7}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{"protocol":300}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{"protocol":1},"tcp":{"destination-port":{"port":1}}},"actions":{"forwarding":"accept"}}`),
		wrap(`{"name":"x","matches":{"ipv4":{"protocol":1},"udp":{"destination-port":{"port":1}}},"actions":{"forwarding":"accept"}}`),
		wrap(`"not an ace"`),
		`{"ietf-mud:mud":{` + pol + `},` + `"ietf-access-control-list:acls":{"acl":[{"name":"a"},{"name":"a"}]}}`,
		`{"ietf-mud:mud":{` + pol + `},` + `"ietf-access-control-list:acls":{"acl":[{"type":"ipv4-acl-type"}]}}`,
	}
	for _, in := range cases {
		_, err := Convert([]byte(in), Options{Source: "t.json"})
		fmt.Printf("%q\n  -> %v\n", in, err)
	}
}
