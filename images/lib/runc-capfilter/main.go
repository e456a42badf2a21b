// runc-capfilter: an OCI runtime wrapper that drops the Linux capabilities the caller cannot grant,
// then runs the real runc with the same arguments.
//
// Why: on some VMs the capability bounding set lacks a capability (here CAP_SYS_RESOURCE:
// CapBnd 000001fffeffffff). `docker run --privileged` (and containerd's privileged pods) ask for
// every capability the runtime knows, and runc fails with
// "unable to apply caps: operation not permitted". Dropping the ones outside our own bounding set
// is what the kernel would allow anyway, so privileged containers behave as privileged as possible.
//
// The same capability is also what lets a process lower its OOM score or raise a hard rlimit, so
// without it runc also fails ("can't get final child's PID from pipe: EOF") on a negative
// process.oomScoreAdj (containerd gives every pod sandbox -998) or an rlimit above our own.
//
// What it edits, before exec'ing runc:
//   - `create` and `run`: <bundle>/config.json (--bundle/-b, default the working directory):
//     capabilities; and, when CAP_SYS_RESOURCE is missing, oomScoreAdj (raised to our own score)
//     and rlimits (hard limits lowered to ours);
//   - `exec`: the --process/-p JSON file (docker exec --privileged, kind's every step): capabilities.
//
// Every other command is passed through untouched. Register it with Docker as the default runtime
// ("runtimes" + "default-runtime" in /etc/docker/daemon.json) or with containerd as the runc
// BinaryName. The real runc is $RUNC_CAPFILTER_RUNC, else /usr/sbin/runc, else /usr/bin/runc.
//
// Standard library only; built statically (CGO_ENABLED=0) so the same binary works on the host and
// inside the kind node image.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames maps capability names to their numbers (linux/capability.h, up to CAP_CHECKPOINT_RESTORE).
var capNames = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

// runc's global options that take a value (everything before the command).
var globalWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

func boundingSet() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// allowed reports whether a capability name is in the bounding set; unknown names are kept
// (runc itself decides about them).
func allowed(name string, bnd uint64) bool {
	n, ok := capNames[strings.ToUpper(name)]
	return !ok || bnd&(1<<n) != 0
}

// filterCaps removes disallowed names from every set of an OCI process "capabilities" object.
// It returns the names dropped. The JSON is edited as generic maps so unknown fields survive.
func filterCaps(process map[string]any, bnd uint64) []string {
	caps, ok := process["capabilities"].(map[string]any)
	if !ok {
		return nil
	}
	dropped := map[string]bool{}
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(list))
		for _, c := range list {
			if s, ok := c.(string); ok && !allowed(s, bnd) {
				dropped[s] = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	out := make([]string, 0, len(dropped))
	for s := range dropped {
		out = append(out, s)
	}
	return out
}

const capSysResource = 24

// rlimitNumbers maps OCI rlimit names to setrlimit(2) resources.
var rlimitNumbers = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

// clampResources keeps oomScoreAdj and rlimits within what a process without CAP_SYS_RESOURCE may
// set: an OOM score not below our own, hard limits not above ours.
func clampResources(process map[string]any) []string {
	var changed []string
	if n, ok := process["oomScoreAdj"].(json.Number); ok {
		want, err1 := n.Int64()
		raw, err2 := os.ReadFile("/proc/self/oom_score_adj")
		own, err3 := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err1 == nil && err2 == nil && err3 == nil && want < own {
			process["oomScoreAdj"] = json.Number(strconv.FormatInt(own, 10))
			changed = append(changed, fmt.Sprintf("oomScoreAdj %d->%d", want, own))
		}
	}
	limits, _ := process["rlimits"].([]any)
	for _, item := range limits {
		rl, ok := item.(map[string]any)
		if !ok {
			continue
		}
		name, _ := rl["type"].(string)
		res, known := rlimitNumbers[name]
		hardNum, _ := rl["hard"].(json.Number)
		softNum, _ := rl["soft"].(json.Number)
		hard, errH := strconv.ParseUint(hardNum.String(), 10, 64)
		soft, errS := strconv.ParseUint(softNum.String(), 10, 64)
		var own syscall.Rlimit
		if !known || errH != nil || errS != nil || syscall.Getrlimit(res, &own) != nil || hard <= own.Max {
			continue
		}
		rl["hard"] = json.Number(strconv.FormatUint(own.Max, 10))
		if soft > own.Max {
			rl["soft"] = json.Number(strconv.FormatUint(own.Max, 10))
		}
		changed = append(changed, fmt.Sprintf("%s hard %d->%d", name, hard, own.Max))
	}
	return changed
}

// rewrite loads a JSON file, lets edit change it, and writes it back only when something was dropped.
func rewrite(path string, edit func(map[string]any) []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep uint64 values (rlimits, uids) exact: float64 would round them
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if dropped := edit(doc); len(dropped) == 0 {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".capfilter.tmp"
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// command finds runc's command and the index of its first argument.
func command(args []string) (string, int) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, i + 1
		}
		if globalWithValue[a] {
			i++ // skip the value
		}
	}
	return "", len(args)
}

// option returns the value of a command option given as `--name v`, `--name=v`, `-n v` or `-n=v`.
func option(args []string, long, short string) (string, bool) {
	for i, a := range args {
		for _, flag := range []string{long, short} {
			if a == flag && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v, true
			}
		}
		if a == "--" {
			break
		}
	}
	return "", false
}

func realRunc() string {
	if p := os.Getenv("RUNC_CAPFILTER_RUNC"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return "runc"
}

func filter(args []string) error {
	bnd, err := boundingSet()
	if err != nil {
		return err
	}
	if bnd == (uint64(1)<<(uint(len(capNames))))-1 {
		return nil // full bounding set: nothing can be refused
	}
	cmd, at := command(args)
	rest := args[at:]
	switch cmd {
	case "create", "run":
		bundle, ok := option(rest, "--bundle", "-b")
		if !ok {
			if bundle, err = os.Getwd(); err != nil {
				return err
			}
		}
		return rewrite(filepath.Join(bundle, "config.json"), func(doc map[string]any) []string {
			p, ok := doc["process"].(map[string]any)
			if !ok {
				return nil
			}
			changed := filterCaps(p, bnd)
			if bnd&(1<<capSysResource) == 0 {
				changed = append(changed, clampResources(p)...)
			}
			return changed
		})
	case "exec":
		if proc, ok := option(rest, "--process", "-p"); ok {
			return rewrite(proc, func(doc map[string]any) []string { return filterCaps(doc, bnd) })
		}
	}
	return nil
}

func main() {
	args := os.Args[1:]
	if err := filter(args); err != nil {
		// Never block a container on our own failure: runc reports the real problem, if any.
		fmt.Fprintf(os.Stderr, "runc-capfilter: %v (passing through unchanged)\n", err)
	}
	runc := realRunc()
	if !strings.Contains(runc, "/") {
		if p, err := lookPath(runc); err == nil {
			runc = p
		}
	}
	err := syscall.Exec(runc, append([]string{runc}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-capfilter: exec %s: %v\n", runc, err)
	os.Exit(127)
}

func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH", name)
}
