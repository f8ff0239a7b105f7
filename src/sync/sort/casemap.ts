/**
 * i;unicode-casemap as Dovecot applies it to sort keys (uni_utf8_to_decomposed_titlecase):
 * each character to its title (here: upper) case where that is one character, then decomposed.
 */
export function titlecase(text: string): string {
  // plain ASCII, the usual case: no decomposition to do
  if (!/[^\p{ASCII}]/u.test(text)) return text.toUpperCase();
  let out = '';
  for (const ch of text) {
    const upper = ch.toUpperCase();
    out += [...upper].length === 1 ? upper : ch;
  }
  return out.normalize('NFD');
}
