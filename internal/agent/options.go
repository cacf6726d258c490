package agent

import (
	"errors"
	"fmt"
	"net"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Defaults of the options left zero.
const (
	DefaultHeartbeatInterval = 60 * time.Second
	DefaultResyncInterval    = 5 * time.Minute
	// DefaultHeartbeatGraceFactor times the heartbeat interval is the default grace.
	DefaultHeartbeatGraceFactor = 3
)

// Options configure one agent. Zero durations take their defaults (see
// Default), except ReleaseCodePagesEvery, whose zero turns it off.
type Options struct {
	// ClusterName is the member's name on the hub (its Cluster object): a DNS
	// label of at most fleetv1alpha1.MaxClusterNameLength characters. Required.
	ClusterName string
	// StateDir keeps the last desired state of every Work and the inventory of
	// what was applied, so the agent can restart without the hub. Required.
	StateDir string
	// HeartbeatInterval is how often the agent renews its Lease on the hub.
	// Default 60s.
	HeartbeatInterval time.Duration
	// HeartbeatGrace is written as the Lease's leaseDurationSeconds: the hub
	// marks the cluster Offline after renewTime+grace. Default 3×HeartbeatInterval.
	HeartbeatGrace time.Duration
	// ResyncInterval is how often a settled Work's health is checked again.
	// Default 5m.
	ResyncInterval time.Duration
	// MetricsAddr serves Prometheus metrics on /metrics; "" or "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "" or "0" disables it.
	ProbeAddr string
	// Version is reported on the Cluster status as agentVersion.
	Version string
	// ReportOnly makes the agent of a git-delivered cluster report health
	// without ever writing to the member: a GitOps tool applies the Works
	// there (see reportonly.go).
	ReportOnly bool
	// DisableDriftWatch turns off the metadata watches that look for drift
	// between resyncs (driftwatch.go); the resync still does. Report-only
	// agents and in-memory members never watch.
	DisableDriftWatch bool
	// ReleaseCodePagesEvery, when positive, drops the pages of the agent's
	// own executable from its resident memory at most this often, when it
	// looked at a Work since the last time (internal/codepages): start-up and
	// bursts of applies map nearly all of the binary, and an agent at rest
	// runs a small part of it. It acts on the whole process, so it is for a
	// process that runs one agent: the agent command's default is 10s; zero,
	// the default here (the fleet simulator runs thousands of agents in one
	// process), never releases.
	ReleaseCodePagesEvery time.Duration
	// ClaimNamespace is the member namespace (the agent's own, in the
	// install manifests) where the agent records which cluster the member is
	// (ConfigMap ClaimConfigMap), and refuses to run as another: the agent
	// of another cluster applied there by mistake would take the objects of
	// this one's Works as its own. Empty: no claim (an agent run by hand, or
	// many agents on one member in tests).
	ClaimNamespace string
}

// Default returns the options with every zero duration set to its default.
func (o Options) Default() Options {
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HeartbeatGrace == 0 {
		o.HeartbeatGrace = DefaultHeartbeatGraceFactor * o.HeartbeatInterval
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	return o
}

// Validate checks the options before anything connects anywhere. Zero
// durations are valid (they mean the default); Validate never changes o.
func (o Options) Validate() error {
	var errs []error
	if err := fleetv1alpha1.ValidateClusterName(o.ClusterName); err != nil {
		errs = append(errs, err)
	}
	if o.StateDir == "" {
		errs = append(errs, errors.New("state directory is required"))
	}
	d := o.Default()
	if d.HeartbeatInterval < time.Second {
		errs = append(errs, fmt.Errorf("heartbeat interval %s must be at least 1s", o.HeartbeatInterval))
	}
	if d.HeartbeatGrace <= d.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("heartbeat grace %s must be longer than the heartbeat interval %s", d.HeartbeatGrace, d.HeartbeatInterval))
	}
	if d.HeartbeatGrace%time.Second != 0 {
		errs = append(errs, fmt.Errorf("heartbeat grace %s must be whole seconds (it becomes the Lease's leaseDurationSeconds)", d.HeartbeatGrace))
	}
	if d.ResyncInterval < time.Second {
		errs = append(errs, fmt.Errorf("resync interval %s must be at least 1s", o.ResyncInterval))
	}
	if o.ReleaseCodePagesEvery < 0 {
		errs = append(errs, fmt.Errorf("code page release period %s must not be negative (0 turns it off)", o.ReleaseCodePagesEvery))
	}
	for _, a := range []struct{ name, addr string }{{"metrics address", o.MetricsAddr}, {"probe address", o.ProbeAddr}} {
		if !enabled(a.addr) {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.name, a.addr, err))
		}
	}
	return errors.Join(errs...)
}

// enabled reports whether an address turns a server on.
func enabled(addr string) bool { return addr != "" && addr != "0" }
