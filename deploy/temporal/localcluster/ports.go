package localcluster

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
)

// Every port is picked at random in [portFloor, portLimit) and checked
// free. Temporal's SQL schemas store a service's membership (ringpop) port
// in a SMALLINT column, so it must stay below 32768; and below 32768 is
// outside Linux's default ephemeral range (32768-60999), where a port
// picked free could be handed to any outgoing connection (the services'
// own connections to PostgreSQL, say) before the service binds it.
const (
	portFloor = 20000
	portLimit = 32768
)

// servicePortVars are the environment variables (read by
// deploy/temporal/config/production.yaml) holding one service's ports.
func servicePortVars(svc string) []string {
	vars := []string{"TEMPORAL_" + strings.ToUpper(svc) + "_PORT", membershipPortVar(svc)}
	if svc == "frontend" {
		vars = append(vars, "TEMPORAL_FRONTEND_HTTP_PORT")
	}
	return vars
}

func membershipPortVar(svc string) string {
	return "TEMPORAL_" + strings.ToUpper(svc) + "_MEMBERSHIP_PORT"
}

// freePorts picks the ports of the four services, each free when picked
// and distinct from the others.
func freePorts() (map[string]int, error) {
	ports := map[string]int{}
	for _, svc := range Services() {
		if err := freshPorts(ports, svc); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// freshPorts replaces one service's ports in ports with new free ones,
// distinct from every port in ports (the old ones included).
func freshPorts(ports map[string]int, svc string) error {
	used := map[int]bool{}
	for _, p := range ports {
		used[p] = true
	}
	for _, v := range servicePortVars(svc) {
		p, err := freePort(used)
		if err != nil {
			return err
		}
		used[p] = true
		ports[v] = p
	}
	return nil
}

// freePort tries random ports in [portFloor, portLimit) until one is free
// and not in used.
func freePort(used map[int]bool) (int, error) {
	for range 200 {
		p := portFloor + rand.IntN(portLimit-portFloor)
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, errors.New("no free port in [" + strconv.Itoa(portFloor) + ", " + strconv.Itoa(portLimit) + ") after 200 tries")
}
