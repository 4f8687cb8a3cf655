// Word chips under the stage images, shared by the page and the widget. `captionWords`
// (engine.js) classifies each word: 'known' (with its token index), 'unknown' or 'dropped'.

import { MAX_WORDS } from './engine.js';

/**
 * One chip. A known word of a finished result is a toggle button that previews its attention
 * while hovered or focused (`onPreview(index | null)`) and is pressed by a click
 * (`onToggle(index, word)`); every other word is a plain span that says why it is inert.
 */
export function wordChip({ word, kind, index }, interactive, { onPreview, onToggle }) {
  if (kind === 'known' && interactive) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'word-chip';
    b.dataset.index = String(index);
    b.dataset.word = word;
    b.textContent = word;
    b.title = `Show where the model placed “${word}”`;
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('pointerenter', () => onPreview(index));
    b.addEventListener('pointerleave', () => onPreview(null));
    b.addEventListener('focus', () => onPreview(index));
    b.addEventListener('blur', () => onPreview(null));
    b.addEventListener('click', () => onToggle(index, word));
    return b;
  }
  const s = document.createElement('span');
  s.className = `word-chip ${kind === 'known' ? 'inactive' : kind}`;
  s.dataset.word = word;
  s.textContent = word;
  if (kind === 'unknown') {
    s.title = `“${word}” is not in this model's vocabulary, so the model ignores it`;
    s.setAttribute('aria-label', `${word} (unknown word, ignored)`);
  } else if (kind === 'dropped') {
    s.title = `Only the first ${MAX_WORDS} known words are used; “${word}” was cut`;
    s.setAttribute('aria-label', `${word} (cut, past ${MAX_WORDS} words)`);
  }
  return s;
}
