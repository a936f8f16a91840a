import { listJobs, type JobInfo } from '../api.ts';
import type { Messages } from './messages.ts';

/** Past jobs, newest first; "Show" opens one in the region panel. */
export async function renderJobsList(list: HTMLElement, messages: Messages, open: (job: JobInfo) => void): Promise<void> {
  let jobs: JobInfo[];
  try {
    jobs = await listJobs();
  } catch (err) {
    messages.error(err);
    return;
  }
  jobs.sort((a, b) => String(b.created ?? '').localeCompare(String(a.created ?? '')));
  list.replaceChildren();
  if (!jobs.length) {
    const li = document.createElement('li');
    li.textContent = 'No jobs yet.';
    list.append(li);
    return;
  }
  for (const job of jobs.slice(0, 50)) {
    const li = document.createElement('li');
    li.dataset.jobId = job.jobID;
    const status = document.createElement('span');
    status.className = `job-status ${job.status}`;
    status.textContent = job.status === 'running' ? `running ${Math.round(job.progress)} %` : job.status;
    const when = document.createElement('span');
    when.className = 'job-when';
    when.textContent = job.created ? new Date(job.created).toLocaleString() : job.jobID.slice(0, 8);
    const show = document.createElement('button');
    show.type = 'button';
    show.textContent = 'Show';
    show.setAttribute('aria-label', `Show job ${job.jobID}`);
    show.addEventListener('click', () => open(job));
    li.append(status, when, show);
    list.append(li);
  }
}
