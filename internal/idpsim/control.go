package idpsim

import (
	"encoding/json"
	"net/http"
)

// The control API lets a test drive a simulator that runs as a separate
// process: GET /_sim/faults → {"faults":[names]}, PUT with the same body
// replaces the faults.

type faultsBody struct {
	Faults []string `json:"faults"`
}

func (s *Server) routeControl(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, faultsBody{Faults: s.Faults().Names()})
	})
	mux.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var body faultsBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"faults":["name",...]}: ` + err.Error()})
			return
		}
		f, err := ParseFaults(body.Faults)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, faultsBody{Faults: f.Names()})
	})
}
