/* Runs a libFuzzer harness without libFuzzer: every file named on the command line,
 * or found (non-recursively) in a directory named there, goes through
 * LLVMFuzzerTestOneInput once. The fuzz-regression test suite uses it to replay
 * the seed corpus and every input that once crashed, in the normal test run.
 * Exits 1 when no input was found: an empty corpus must not pass silently. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        free(buf);
        fclose(f);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    fclose(f);
    printf("replay: %s (%ld bytes)\n", path, n);
    fflush(stdout); /* the last name printed is the culprit if the harness aborts */
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int ran = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: missing\n", argv[i]);
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) == 0)
                ran++;
            else
                failed++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            failed++;
            continue;
        }
        /* Sorted, so a failing run names the same input every time. */
        char **names = NULL;
        size_t nn = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md"))
                continue;
            if (nn == cap) {
                cap = cap ? 2 * cap : 64;
                char **tmp = realloc(names, cap * sizeof *names);
                if (!tmp)
                    break;
                names = tmp;
            }
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[nn] = malloc(len);
            if (!names[nn])
                break;
            snprintf(names[nn], len, "%s/%s", argv[i], e->d_name);
            nn++;
        }
        closedir(d);
        if (nn)
            qsort(names, nn, sizeof *names, cmp_str);
        for (size_t k = 0; k < nn; k++) {
            struct stat fst;
            if (stat(names[k], &fst) == 0 && S_ISREG(fst.st_mode)) {
                if (run_file(names[k]) == 0)
                    ran++;
                else
                    failed++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("replay: %d inputs, %d unreadable\n", ran, failed);
    return (ran == 0 || failed) ? 1 : 0;
}
