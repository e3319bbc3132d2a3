/* einsum_spec.c -- einsum's equation, NumPy's and torch.einsum's notation
 * ("ij,jk->ik", "ii", "...ij->...ji"), read against operand shapes into
 * labels (einsum.h). */
#include "einsum.h"

#include <stdio.h>
#include <string.h>

/* 0..25 for a..z, 26..51 for A..Z, -1 for anything else. */
static int letter_index(char c) {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + c - 'A';
    return -1;
}

/* One term of the equation: its letters and where its ellipsis is. */
typedef struct es_term {
    char letters[GR_MAX_RANK + 1];
    int nletters;
    int ellipsis; /* position among the letters, or -1 */
} es_term;

/* Read [s, e) (no spaces) as a term into t; 0, or -1 with msg. */
static int read_term(const char *s, const char *e, es_term *t, char *msg, size_t cap) {
    t->nletters = 0;
    t->ellipsis = -1;
    while (s < e) {
        if (*s == '.') {
            if (e - s < 3 || s[1] != '.' || s[2] != '.' || t->ellipsis >= 0) {
                snprintf(msg, cap, "a '.' that is not one '...' per term");
                return -1;
            }
            t->ellipsis = t->nletters;
            s += 3;
            continue;
        }
        if (letter_index(*s) < 0) {
            snprintf(msg, cap, "'%c' is not a subscript letter", *s);
            return -1;
        }
        if (t->nletters == GR_MAX_RANK) {
            snprintf(msg, cap, "a term has more than %d subscripts", GR_MAX_RANK);
            return -1;
        }
        t->letters[t->nletters++] = *s++;
    }
    return 0;
}

/* See einsum.h. */
int gr_einsum_parse(const char *eq, int nops, const gr_shape *const *shapes, es_spec *sp, char *msg, size_t cap) {
    char buf[GR_ATTR_STR_MAX];
    size_t len = 0;
    for (const char *c = eq; *c && len + 1 < sizeof buf; c++)
        if (*c != ' ') buf[len++] = *c;
    buf[len] = '\0';
    memset(sp, 0, sizeof *sp);
    if (nops < 1 || nops > ES_MAX_OPS) {
        snprintf(msg, cap, "einsum takes 1 to %d operands, got %d", ES_MAX_OPS, nops);
        return -1;
    }
    sp->nops = nops;
    char *arrow = strstr(buf, "->");
    const char *in_end = arrow ? arrow : buf + len;
    es_term terms[ES_MAX_OPS], out_term;
    const char *s = buf;
    for (int k = 0; k < nops; k++) {
        const char *e = memchr(s, ',', (size_t)(in_end - s));
        if (!e) e = in_end;
        if (k == nops - 1 && e != in_end) {
            snprintf(msg, cap, "the equation has more terms than the %d operand%s", nops, nops == 1 ? "" : "s");
            return -1;
        }
        if (k < nops - 1 && e == in_end) {
            snprintf(msg, cap, "the equation has %d input term%s for %d operands", k + 1, k ? "s" : "", nops);
            return -1;
        }
        if (read_term(s, e, &terms[k], msg, cap) < 0) return -1;
        s = e + 1;
    }
    if (arrow && (strstr(arrow + 2, "->") || read_term(arrow + 2, buf + len, &out_term, msg, cap) < 0)) {
        if (strstr(arrow + 2, "->")) snprintf(msg, cap, "the equation has two '->'");
        return -1;
    }
    /* Ellipsis dims: as many as the widest operand's, aligned right. */
    int ell_rank[ES_MAX_OPS], ell = 0;
    for (int k = 0; k < nops; k++) {
        int r = shapes[k]->rank, extra = r - terms[k].nletters;
        if (terms[k].ellipsis < 0 ? extra != 0 : extra < 0) {
            snprintf(msg, cap, "term %d has %d subscripts for operand %d of rank %d", k, terms[k].nletters, k, r);
            return -2;
        }
        ell_rank[k] = terms[k].ellipsis < 0 ? 0 : extra;
        if (ell_rank[k] > ell) ell = ell_rank[k];
    }
    int by_letter[52];
    for (int i = 0; i < 52; i++) by_letter[i] = -1;
    for (int i = 0; i < ell; i++) sp->size[i] = 1; /* labels 0..ell-1: the ellipsis dims */
    sp->nlabels = ell;
    int count[ES_MAX_LABELS] = {0};
    for (int k = 0; k < nops; k++) {
        const es_term *t = &terms[k];
        int ax = 0;
        for (int j = 0; j <= t->nletters; j++) {
            if (j == t->ellipsis)
                for (int i = 0; i < ell_rank[k]; i++) sp->sub[k][ax++] = ell - ell_rank[k] + i;
            if (j == t->nletters) break;
            int li = letter_index(t->letters[j]);
            if (by_letter[li] < 0) {
                by_letter[li] = sp->nlabels;
                sp->name[sp->nlabels] = t->letters[j];
                sp->size[sp->nlabels++] = 1;
            }
            sp->sub[k][ax++] = by_letter[li];
        }
        sp->rank[k] = ax;
        for (int a = 0; a < ax; a++) {
            int l = sp->sub[k][a];
            int64_t d = shapes[k]->dims[a];
            count[l]++;
            for (int b = 0; b < a; b++)
                if (sp->sub[k][b] == l && shapes[k]->dims[b] != d) {
                    snprintf(msg, cap, "subscript '%c' of operand %d is repeated over dims of sizes %lld and %lld",
                             sp->name[l] ? sp->name[l] : '.', k, (long long)shapes[k]->dims[b], (long long)d);
                    return -2;
                }
            if (d != 1 && sp->size[l] != 1 && sp->size[l] != d) {
                if (l < ell) snprintf(msg, cap, "the '...' dims of the operands do not broadcast (%lld vs %lld)",
                                      (long long)sp->size[l], (long long)d);
                else snprintf(msg, cap, "subscript '%c' has sizes %lld and %lld", sp->name[l],
                              (long long)sp->size[l], (long long)d);
                return -2;
            }
            if (d != 1) sp->size[l] = d;
        }
    }
    /* Letters for the ellipsis labels: ones the equation does not use. */
    int next = 0;
    for (int i = 0; i < ell; i++) {
        while (by_letter[next] >= 0) next++;
        by_letter[next] = i;
        sp->name[i] = (char)(next < 26 ? 'a' + next : 'A' + next - 26);
    }
    if (arrow) {
        int ax = 0;
        for (int j = 0; j <= out_term.nletters; j++) {
            if (j == out_term.ellipsis)
                for (int i = 0; i < ell; i++) sp->out[ax++] = i;
            if (j == out_term.nletters) break;
            int li = letter_index(out_term.letters[j]);
            int l = by_letter[li];
            if (l < ell) {
                snprintf(msg, cap, "output subscript '%c' is in no input term", out_term.letters[j]);
                return -1;
            }
            for (int b = 0; b < ax; b++)
                if (sp->out[b] == l) {
                    snprintf(msg, cap, "output subscript '%c' appears twice", out_term.letters[j]);
                    return -1;
                }
            if (ax == GR_MAX_RANK) {
                snprintf(msg, cap, "the output has more than %d dims", GR_MAX_RANK);
                return -1;
            }
            sp->out[ax++] = l;
        }
        sp->out_rank = ax;
    } else { /* NumPy's implicit output: the ellipsis, then letters used once, sorted */
        int ax = 0;
        for (int i = 0; i < ell; i++) sp->out[ax++] = i;
        for (int li = 0; li < 52; li++) { /* 'A'..'Z' sort before 'a'..'z' */
            int idx = li < 26 ? 26 + li : li - 26, l = by_letter[idx];
            if (l >= ell && count[l] == 1 && ax < GR_MAX_RANK) sp->out[ax++] = l;
        }
        sp->out_rank = ax;
    }
    return 0;
}
