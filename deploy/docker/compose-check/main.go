// compose-check loads a Compose file with github.com/compose-spec/compose-go, the reference
// loader that `docker compose` itself uses, with every profile enabled, and so reports what
// `docker compose config` would: schema errors, bad interpolation, unknown services in
// depends_on, malformed ports, durations and volumes. It contacts no Docker engine.
//
// It then checks what only fails later, at `docker compose up`:
//   - a depends_on with condition service_healthy names a service that has a healthcheck;
//   - a depends_on with condition service_completed_successfully names a one-shot service
//     (restart "no" or unset);
//   - every bind-mount source and every build context and Dockerfile exists.
//
// Usage: compose-check [-project-directory DIR] FILE...
// (exit 0: valid; 1: problems, one line each; relative paths resolve against DIR, by default
// the directory of the first file, as with docker compose)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	projectDir := flag.String("project-directory", "", "directory that relative paths resolve against")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: compose-check [-project-directory DIR] FILE...")
		os.Exit(2)
	}
	options := []cli.ProjectOptionsFn{
		cli.WithOsEnv,
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
	}
	if *projectDir != "" {
		options = append(options, cli.WithWorkingDirectory(*projectDir))
	}
	opts, err := cli.NewProjectOptions(flag.Args(), options...)
	if err != nil {
		fail(err.Error())
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err.Error())
	}

	var problems []string
	names := project.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		svc := project.Services[name]
		for dep, d := range svc.DependsOn {
			target, ok := project.Services[dep]
			if !ok {
				problems = append(problems, fmt.Sprintf("service %s: depends_on unknown service %s", name, dep))
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0 {
					problems = append(problems, fmt.Sprintf("service %s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != "" && target.Restart != types.RestartPolicyNo {
					problems = append(problems, fmt.Sprintf("service %s: waits for %s to complete, but %s has restart %q", name, dep, dep, target.Restart))
				}
			}
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					problems = append(problems, fmt.Sprintf("service %s: bind mount source %s does not exist", name, v.Source))
				}
			}
		}
		if svc.Build != nil {
			if st, err := os.Stat(svc.Build.Context); err != nil || !st.IsDir() {
				problems = append(problems, fmt.Sprintf("service %s: build context %s is not a directory", name, svc.Build.Context))
			} else if svc.Build.Dockerfile != "" {
				df := svc.Build.Dockerfile
				if !filepath.IsAbs(df) {
					df = filepath.Join(svc.Build.Context, df)
				}
				if _, err := os.Stat(df); err != nil {
					problems = append(problems, fmt.Sprintf("service %s: Dockerfile %s does not exist", name, df))
				}
			}
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "compose-check:", p)
		}
		os.Exit(1)
	}
	fmt.Printf("compose-check: project %s, %d services: %v\n", project.Name, len(names), names)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "compose-check:", msg)
	os.Exit(1)
}
