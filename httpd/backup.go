package httpd

import (
	"fmt"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"
)

// backup serves GET /api/backup (runnel): a consistent snapshot of the
// database and the logs of the jobs in it, as a gzip'd tar streamed while
// the server runs (admin only with auth on). Once the first byte is sent an
// error can only cut the stream short, which the client sees as a broken
// gzip stream; the error is logged.
func (s *Server) backup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	if err := s.requireAdmin(r); err != nil {
		return err
	}
	name := fmt.Sprintf("runnel-backup-%s.tar.gz", time.Now().UTC().Format("20060102-150405"))
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	st, err := s.opts.Store.Backup(w, s.opts.Logs)
	if err != nil {
		s.log.Error("backup failed", "err", err)
		auditDetail(r, "error", err.Error())
		return nil
	}
	auditDetail(r, "jobs", st.Jobs)
	auditDetail(r, "db_bytes", st.DBBytes)
	auditDetail(r, "log_bytes", st.LogBytes)
	s.log.Info("backup sent", "jobs", st.Jobs, "db_bytes", st.DBBytes, "logs", st.Logs, "log_bytes", st.LogBytes)
	return nil
}
