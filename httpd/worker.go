package httpd

import "github.com/julienschmidt/httprouter"

// workerRoutes registers the remote worker protocol /worker/* (SPEC §9.2).
func (s *Server) workerRoutes(r *httprouter.Router) {}
