package localcluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// membershipPortLimit: Temporal's SQL schemas store a service's membership
// (ringpop) port in a SMALLINT column, so it must stay below 32768; the
// kernel hands out ephemeral ports above that.
const membershipPortLimit = 32768

// freePorts picks the ports of the four services (the environment
// variables of deploy/temporal/config/production.yaml), each free when
// picked, membership ports below membershipPortLimit.
func freePorts() (map[string]int, error) {
	ports := map[string]int{}
	for _, svc := range []string{"FRONTEND", "HISTORY", "MATCHING", "WORKER"} {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports["TEMPORAL_"+svc+"_PORT"] = p
		if p, err = freePortBelow(membershipPortLimit, ports); err != nil {
			return nil, err
		}
		ports["TEMPORAL_"+svc+"_MEMBERSHIP_PORT"] = p
	}
	p, err := freePort()
	if err != nil {
		return nil, err
	}
	ports["TEMPORAL_FRONTEND_HTTP_PORT"] = p
	return ports, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePortBelow tries random ports in [20000, limit) until one is free and
// not already taken.
func freePortBelow(limit int, taken map[string]int) (int, error) {
	used := map[int]bool{}
	for _, p := range taken {
		used[p] = true
	}
	for range 200 {
		p := 20000 + rand.IntN(limit-20000)
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
	return 0, errors.New("no free port below " + strconv.Itoa(limit) + " after 200 tries")
}
