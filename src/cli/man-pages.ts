/**
 * Man pages in roff (man(7)), generated from the verb catalog: holdfast(1) with the overview and
 * the list of verbs, and holdfast-VERB(1) for each verb with its usage text as the description,
 * so a man page says exactly what --help says.
 */
import type { CatalogVerb } from './verb-catalog.js';

export interface ManPage {
  fileName: string;
  text: string;
}

/** Text as roff shows it literally: backslashes escaped, a leading "." or "'" guarded. */
function roffText(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/\\/g, '\\e').replace(/^([.'])/, '\\&$1'))
    .join('\n');
}

function header(name: string, version: string, date: string): string {
  return `.TH ${name.toUpperCase()} 1 "${date}" "holdfast ${version}" "User Commands"\n`;
}

export function manPages(topUsage: string, verbs: readonly CatalogVerb[], version: string, date: string): ManPage[] {
  const pages: ManPage[] = [];
  const verbList = verbs.map((verb) => `.TP\n.B ${verb.name}\n${roffText(verb.summary)}`).join('\n');
  pages.push({
    fileName: 'holdfast.1',
    text: `${header('holdfast', version, date)}.SH NAME\nholdfast \\- consistent, incremental, deduplicated, encrypted backups\n.SH SYNOPSIS\n.B holdfast\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.SH COMMANDS\n${verbList}\n.SH DESCRIPTION\n.nf\n${roffText(topUsage.trimEnd())}\n.fi\n.SH SEE ALSO\n${verbs.map((verb) => `.BR holdfast-${verb.name} (1)`).join(',\n')}\n`,
  });
  for (const verb of verbs) {
    pages.push({
      fileName: `holdfast-${verb.name}.1`,
      text: `${header(`holdfast-${verb.name}`, version, date)}.SH NAME\nholdfast-${verb.name} \\- ${roffText(verb.summary)}\n.SH DESCRIPTION\n.nf\n${roffText(verb.usage.trimEnd())}\n.fi\n.SH SEE ALSO\n.BR holdfast (1)\n`,
    });
  }
  return pages;
}
