"""Every run the store knows about (ladders, adaptation runs), with cancel / retry and a run's curves."""
import streamlit as st

from planner.errors import PlannerError
from planner.jobs.runners import retry_job
from planner.jobs.store import JobStore
from planner.views import verify as plots
from planner.views.errors import error_sentence
from planner.views.runs import job_summary, runs_table
from planner.views.paths import file_names_only

st.title("Runs")
st.caption("The history of every job in the store. Runs keep their logged metrics after a crash, a killed "
           "worker or a server restart; a failed run shows why, and Retry resumes it from its checkpoint.")

store = JobStore()
try:
    jobs = store.list_jobs()  # read-only: works on a full disk or a read-only state directory
    workers = store.live_workers()
except PlannerError as err:  # a corrupt or unreadable store: one clear message, naming the file
    st.error(file_names_only(error_sentence(err)))
    st.stop()
if not jobs:
    st.info("No runs yet. Launch a ladder on the Verify page, or an adaptation run on the Adapt page.")
    st.stop()

f1, f2, f3 = st.columns(3)
kinds = f1.multiselect("Kind", sorted({j.kind for j in jobs}))
statuses = f2.multiselect("Status", ["queued", "running", "done", "failed", "cancelled"])
groups = f3.multiselect("Group (ladder)", sorted({j.group for j in jobs if j.group}, reverse=True))
shown = [j for j in jobs if (not kinds or j.kind in kinds) and (not statuses or j.status in statuses)
         and (not groups or j.group in groups)]
st.caption(f"{len(shown)} of {len(jobs)} runs · live workers: "
           + (", ".join(f"{w.slot} (pid {w.pid})" for w in workers) or "none"))
st.dataframe(file_names_only(runs_table(shown[::-1])), hide_index=True, width="stretch",
             column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)})

st.subheader("One run")
ids = [j.id for j in shown[::-1]]
if not ids:
    st.stop()
by_id = {j.id: j for j in shown}  # one read above serves the picker and the details
job_id = st.selectbox("Job", ids, format_func=lambda i: f"#{i} {job_summary(by_id[i]).run}")
job = by_id[job_id]
summary = job_summary(job)  # typed: run name, budget and final loss, whatever the kind
a, b, c = st.columns(3)
a.metric("Status", job.status)
b.metric("Attempt", job.attempt)
c.metric("Final loss", summary.final_loss_text())
if job.error:
    st.error(file_names_only(job.error))  # file names, never the server's absolute paths
try:
    if a.button("Cancel", disabled=job.finished):
        store.cancel(job_id)
        st.rerun()  # show the store's state after the action
    if b.button("Retry", disabled=job.status not in ("failed", "cancelled")):
        retry_job(job_id, store=store)  # checks the device, re-queues, makes sure a worker runs it
        st.rerun()
except PlannerError as err:
    st.error(file_names_only(error_sentence(err)))  # a refused action changed nothing: the status above is the store's
try:
    metrics = store.metrics(job_id)
except PlannerError as err:  # e.g. the store turned unreadable since the list above
    st.error(file_names_only(error_sentence(err)))
    metrics = []
if metrics and "loss" in metrics[0]:
    name = summary.label(job_id)
    st.plotly_chart(plots.loss_curves_figure({name: metrics}, {name: summary.budget_flops}), width="stretch")
with st.expander("Spec and result"):
    st.json(file_names_only({"spec": job.spec, "result": job.result}))
