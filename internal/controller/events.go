package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
)

// RecorderProvider is the part of a manager that makes Event recorders.
type RecorderProvider interface {
	GetEventRecorder(name string) events.EventRecorder
}

// EventRecorder is the hub's Event recorder for a controller: mgr's, with
// every note put on one line without control characters, and cut to the
// MaxEventNote bytes the API server takes. A note quotes what teams and
// agents write (a pause message, a Work's message), and `kubectl describe`
// escapes ESC but prints newlines, so a note could add a line that reads as
// another Event of the hub; and the API server refuses a longer note, so the
// Event would be lost. A note that ends with who did it is cut before them
// by its writer (fleetv1alpha1.EventNote).
func EventRecorder(mgr RecorderProvider, source string) events.EventRecorder {
	return printableNotes{mgr.GetEventRecorder(source)}
}

type printableNotes struct{ events.EventRecorder }

func (r printableNotes) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	note = fleetv1alpha1.ClipMessage(display.Printable(fmt.Sprintf(note, args...)), fleetv1alpha1.MaxEventNote)
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", note)
}
