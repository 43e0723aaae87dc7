// approval.js: the form of a step waiting for approval (its message, the
// fields the approver fills in, a comment, Approve and Reject).
import { html, useState, Time, enc } from './ui.js';
import * as api from './api.js';
import { Field, initial, collect, parseInputErrors } from './tasks.js';

/** ApprovalForm shows a waiting approval step; onDone runs after a decision. */
export function ApprovalForm({ job, step, onDone }) {
  const ap = step.approval;
  // The field shapes of the run form: name = display name, no null default.
  const fields = ap.fields.map(f => [f.name, { type: f.type, required: f.required, name: f.display_name,
    description: f.description, default: f.default === null ? undefined : f.default }]);
  const [vals, setVals] = useState(() => Object.fromEntries(fields.map(([k, f]) => [k, initial(f)])));
  const [comment, setComment] = useState('');
  const [errs, setErrs] = useState({ fields: {}, rest: [] });
  const [busy, setBusy] = useState('');
  const prefix = `ap-${step.step_name}-`;
  const decide = async verb => {
    const body = { comment };
    if (verb === 'approve') {
      const { input, local } = collect(fields, vals);
      if (Object.keys(local).length) { setErrs({ fields: local, rest: [] }); return; }
      body.fields = input;
    }
    setBusy(verb);
    setErrs({ fields: {}, rest: [] });
    try {
      await api.post(`/api/jobs/${enc(job.job_id)}/steps/${enc(step.step_name)}/${verb}`, body);
      onDone();
    } catch (x) {
      setErrs(x.status === 400 ? parseInputErrors(x.message) : { fields: {}, rest: [x.message || String(x)] });
    } finally {
      setBusy('');
    }
  };
  const submit = e => { e.preventDefault(); decide('approve'); };
  return html`<section class="card approval" aria-labelledby=${prefix + 'h'}>
    <h2 id=${prefix + 'h'}>Step <span class="mono">${step.step_name}</span> is waiting for approval</h2>
    <p class="approval-message" data-step=${step.step_name}>${ap.message}</p>
    <p class="muted">${ap.approvers.length ? `Approvers: ${ap.approvers.join(', ')}` : 'Anyone may decide.'}
      ${ap.deadline && html` · ${ap.on_timeout === 'approve' ? 'Approved' : ap.on_timeout === 'reject' ? 'Rejected' : 'Fails'} if nobody decides by <${Time} t=${ap.deadline}/>`}</p>
    <form onSubmit=${submit} novalidate aria-label=${'Approve or reject ' + step.step_name}>
      ${errs.rest.length > 0 && html`<div class="alert" role="alert">${errs.rest.join('\n')}</div>`}
      ${fields.map(([k, f]) => html`<${Field} key=${k} id=${k} prefix=${prefix} f=${f} value=${vals[k]} errors=${errs.fields[k]} onChange=${v => setVals(s => ({ ...s, [k]: v }))}/>`)}
      <div class="field"><label for=${prefix + 'comment'}>Comment</label>
        <textarea id=${prefix + 'comment'} name="comment" value=${comment} onInput=${e => setComment(e.target.value)}></textarea>
        <span class="help">Recorded with your decision; a rejection's comment becomes the step's error.</span></div>
      <div class="row"><button class="primary" type="submit" disabled=${!!busy}>${busy === 'approve' ? 'Approving…' : 'Approve'}</button>
        <button class="danger" type="button" disabled=${!!busy} onClick=${() => decide('reject')}>${busy === 'reject' ? 'Rejecting…' : 'Reject'}</button></div>
    </form></section>`;
}

/** ApprovalRecord words a decided approval for the steps list. */
export function ApprovalRecord({ ap }) {
  if (!ap || !ap.decision) return null;
  return html`<div class="muted approval-record">${ap.decision.replace('_', ' ')} by ${ap.by}${ap.at && html` · <${Time} t=${ap.at}/>`}${ap.comment ? ': ' + ap.comment : ''}</div>`;
}
