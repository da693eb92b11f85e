/* Runs one command and reports what it used: spawn RESULT PROGRAM [ARGS...]
 *
 * The benchmark starts every command through this small program because a child's peak RSS
 * (ru_maxrss) starts from the memory of the process that forked it: forked from the bench
 * tool itself, every command would show at least the tool's own RSS. Forked from here, the
 * floor is this program's few hundred KiB.
 *
 * Forks, execs PROGRAM (stdin, stdout and stderr are inherited), waits with wait4, and writes
 * one line to RESULT: "<wait status> <wall ns> <maxrss KiB> <user us> <sys us>".
 * Built by the benchmark: gcc -O2 -o spawn spawn.c */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn RESULT PROGRAM [ARGS...]\n");
        return 2;
    }
    long long start = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("spawn: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("spawn: exec");
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("spawn: wait4");
        return 2;
    }
    long long wall = now_ns() - start;
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror("spawn: result file");
        return 2;
    }
    fprintf(out, "%d %lld %ld %lld %lld\n", status, wall, ru.ru_maxrss,
            (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec);
    fclose(out);
    return 0;
}
