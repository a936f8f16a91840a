import { ApiError } from '../api.ts';

/**
 * Messages to the user in words, in one live region: errors stay until dismissed, information
 * fades after a while. Nothing is swallowed: every caught error of an action lands here.
 */
export class Messages {
  constructor(private readonly box: HTMLElement) {}

  error(err: unknown): void {
    const text = err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
    this.show(text, 'error');
  }

  info(text: string, ttlMs = 6000): void {
    const item = this.show(text, 'info');
    setTimeout(() => item.remove(), ttlMs);
  }

  private show(text: string, kind: 'error' | 'info'): HTMLElement {
    // the same error repeated (a poll failing every second) is shown once
    for (const existing of this.box.querySelectorAll<HTMLElement>('.message')) {
      if (existing.dataset.text === text) return existing;
    }
    const item = document.createElement('div');
    item.className = `message ${kind}`;
    item.dataset.text = text;
    if (kind === 'error') item.setAttribute('role', 'alert');
    const span = document.createElement('span');
    span.textContent = text;
    const close = document.createElement('button');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss message');
    close.textContent = '×';
    close.addEventListener('click', () => item.remove());
    item.append(span, close);
    this.box.append(item);
    while (this.box.children.length > 4) this.box.firstElementChild?.remove();
    return item;
  }
}
