package api

// Approval is the wait and decision of an approval step in the job detail
// (runnel; README "Approvals"). TimeoutSecs and Deadline are null without a
// timeout; Decision, By, At and Comment are null until decided.
type Approval struct {
	Message     string          `json:"message"`
	Fields      []ApprovalField `json:"fields"`
	Approvers   []string        `json:"approvers"`
	TimeoutSecs *float64        `json:"timeout_secs"`
	Deadline    Time            `json:"deadline"`
	OnTimeout   string          `json:"on_timeout"`
	Decision    OptString       `json:"decision"`
	By          OptString       `json:"by"`
	At          Time            `json:"at"`
	Comment     OptString       `json:"comment"`
}

// ApprovalField is one field an approver fills in.
type ApprovalField struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Default     any    `json:"default"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
}

// Decision is the body of POST /api/jobs/{id}/steps/{step}/approve and
// /reject.
type Decision struct {
	Fields  map[string]any `json:"fields,omitempty"`
	Comment string         `json:"comment,omitempty"`
}
