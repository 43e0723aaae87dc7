package httpd

import "github.com/julienschmidt/httprouter"

// hookRoutes registers the task webhooks /hooks/{name} (SPEC §7.2).
func (s *Server) hookRoutes(r *httprouter.Router) {}
