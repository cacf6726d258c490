// Package logging builds the zap-backed logr.Logger of the agent build
// (`-tags agent`), with the same hidden --zap-* flags and defaults as
// controller-runtime's log/zap package, which the full build uses: the agent
// build links no controller-runtime (docs/benchmarks.md, issue 20).
//
// Production defaults: JSON, Info, stack traces from Error, RFC 3339 times,
// sampled (the first 100 entries of a message each second, then every
// 100th) unless V(2) or more is enabled. --zap-devel: console encoding,
// Debug, stack traces from Warn, no sampling. Kubernetes objects logged as
// values are written as their kind, namespace and name, except in
// development mode.
package logging

import (
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Options are the logger's settings, as the --zap-* flags set them.
type Options struct {
	// Development selects the development defaults (--zap-devel).
	Development bool
	// Encoder is "json" or "console"; empty: by Development.
	Encoder string
	// Level is the lowest level logged; nil: by Development. V(n) is level -n.
	Level zapcore.LevelEnabler
	// StacktraceLevel is the level from which stack traces are written;
	// nil: by Development.
	StacktraceLevel zapcore.LevelEnabler
	// TimeEncoder writes times; nil: RFC 3339.
	TimeEncoder zapcore.TimeEncoder
	// Out receives the log; nil: standard error.
	Out io.Writer
}

// BindFlags adds the --zap-* flags to fs: --zap-devel, --zap-encoder,
// --zap-log-level, --zap-stacktrace-level and --zap-time-encoding.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.Development, "zap-devel", o.Development,
		"Development Mode defaults(encoder=consoleEncoder,logLevel=Debug,stackTraceLevel=Warn). "+
			"Production Mode defaults(encoder=jsonEncoder,logLevel=Info,stackTraceLevel=Error)")
	fs.Func("zap-encoder", "Zap log encoding (one of 'json' or 'console')", func(s string) error {
		switch v := strings.ToLower(s); v {
		case "json", "console":
			o.Encoder = v
			return nil
		}
		return fmt.Errorf("invalid encoder value %q", s)
	})
	fs.Func("zap-log-level", "Zap Level to configure the verbosity of logging. Can be one of 'debug', 'info', 'error', 'panic'"+
		" or any integer value > 0 which corresponds to custom debug levels of increasing verbosity", func(s string) error {
		level, err := ParseLevel(s)
		if err != nil {
			return err
		}
		o.Level = zap.NewAtomicLevelAt(level)
		return nil
	})
	fs.Func("zap-stacktrace-level", "Zap Level at and above which stacktraces are captured (one of 'info', 'error', 'panic').", func(s string) error {
		level, ok := map[string]zapcore.Level{"info": zap.InfoLevel, "error": zap.ErrorLevel, "panic": zap.PanicLevel}[strings.ToLower(s)]
		if !ok {
			return fmt.Errorf("invalid stacktrace level %q", s)
		}
		o.StacktraceLevel = zap.NewAtomicLevelAt(level)
		return nil
	})
	fs.Func("zap-time-encoding", "Zap time encoding (one of 'epoch', 'millis', 'nano', 'iso8601', 'rfc3339' or 'rfc3339nano'). Defaults to 'epoch'.", func(s string) error {
		enc, ok := map[string]zapcore.TimeEncoder{
			"rfc3339nano": zapcore.RFC3339NanoTimeEncoder, "rfc3339": zapcore.RFC3339TimeEncoder,
			"iso8601": zapcore.ISO8601TimeEncoder, "millis": zapcore.EpochMillisTimeEncoder,
			"nanos": zapcore.EpochNanosTimeEncoder, "epoch": zapcore.EpochTimeEncoder,
		}[strings.ToLower(s)]
		if !ok {
			return fmt.Errorf("invalid time-encoding value %q", s)
		}
		o.TimeEncoder = enc
		return nil
	})
}

// ParseLevel reads a level as --zap-log-level does: debug, info, error,
// panic, or a number N > 0 for V(N) (zap level -N).
func ParseLevel(s string) (zapcore.Level, error) {
	if level, ok := map[string]zapcore.Level{"debug": zap.DebugLevel, "info": zap.InfoLevel, "error": zap.ErrorLevel, "panic": zap.PanicLevel}[strings.ToLower(s)]; ok {
		return level, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 128 {
		return 0, fmt.Errorf("invalid log level %q", s)
	}
	return zapcore.Level(int8(-n)), nil
}

// New returns the logger o describes.
func New(o Options) logr.Logger {
	out := o.Out
	if out == nil {
		out = os.Stderr
	}
	var zapOpts []zap.Option
	encoderConfig := zap.NewProductionEncoderConfig()
	newEncoder := zapcore.NewJSONEncoder
	if o.Development {
		encoderConfig = zap.NewDevelopmentEncoderConfig()
		newEncoder = zapcore.NewConsoleEncoder
		if o.Level == nil {
			o.Level = zap.NewAtomicLevelAt(zap.DebugLevel)
		}
		if o.StacktraceLevel == nil {
			o.StacktraceLevel = zap.NewAtomicLevelAt(zap.WarnLevel)
		}
		zapOpts = append(zapOpts, zap.Development())
	} else {
		if o.Level == nil {
			o.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
		}
		if o.StacktraceLevel == nil {
			o.StacktraceLevel = zap.NewAtomicLevelAt(zap.ErrorLevel)
		}
		if !o.Level.Enabled(zapcore.Level(-2)) {
			zapOpts = append(zapOpts, zap.WrapCore(func(core zapcore.Core) zapcore.Core {
				return zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
			}))
		}
	}
	switch o.Encoder {
	case "json":
		encoderConfig, newEncoder = zap.NewProductionEncoderConfig(), zapcore.NewJSONEncoder
	case "console":
		encoderConfig, newEncoder = zap.NewDevelopmentEncoderConfig(), zapcore.NewConsoleEncoder
	}
	encoderConfig.EncodeTime = o.TimeEncoder
	if encoderConfig.EncodeTime == nil {
		encoderConfig.EncodeTime = zapcore.RFC3339TimeEncoder
	}
	sink := zapcore.AddSync(out)
	zapOpts = append(zapOpts, zap.AddStacktrace(o.StacktraceLevel), zap.ErrorOutput(sink))
	encoder := zapcore.Encoder(&kubeAwareEncoder{Encoder: newEncoder(encoderConfig), verbose: o.Development})
	return zapr.NewLogger(zap.New(zapcore.NewCore(encoder, sink, o.Level)).WithOptions(zapOpts...))
}

// kubeAwareEncoder writes a Kubernetes object logged as a value as its
// apiVersion, kind, namespace and name, unless verbose.
type kubeAwareEncoder struct {
	zapcore.Encoder
	verbose bool
}

func (k *kubeAwareEncoder) Clone() zapcore.Encoder {
	return &kubeAwareEncoder{Encoder: k.Encoder.Clone(), verbose: k.verbose}
}

func (k *kubeAwareEncoder) EncodeEntry(entry zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	if !k.verbose {
		for i, f := range fields {
			if f.Type != zapcore.StringerType && f.Type != zapcore.ReflectType {
				continue
			}
			if obj, ok := f.Interface.(runtime.Object); ok {
				fields[i] = zapcore.Field{Type: zapcore.ObjectMarshalerType, Key: f.Key, Interface: kubeObject{obj}}
			}
		}
	}
	return k.Encoder.EncodeEntry(entry, fields)
}

// kubeObject logs an object as its kind and name.
type kubeObject struct{ obj runtime.Object }

func (w kubeObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	if v := reflect.ValueOf(w.obj); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("got nil for runtime.Object")
	}
	if gvk := w.obj.GetObjectKind().GroupVersionKind(); gvk.Version != "" {
		enc.AddString("apiVersion", gvk.GroupVersion().String())
		enc.AddString("kind", gvk.Kind)
	}
	m, err := meta.Accessor(w.obj)
	if err != nil {
		return fmt.Errorf("got runtime.Object without object metadata: %v", w.obj)
	}
	if ns := m.GetNamespace(); ns != "" {
		enc.AddString("namespace", ns)
	}
	enc.AddString("name", m.GetName())
	return nil
}
