/* A program that does other work: N calls that the filter lets through (getppid) and N
 * one-byte writes to /dev/null (a traced call on a file: one stop, no event). Usage: work [N]. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int fd = open("/dev/null", O_WRONLY);
    long sum = 0;
    for (int i = 0; i < n; i++) sum += getppid();
    for (int i = 0; i < n; i++) sum += write(fd, "x", 1);
    return sum == 0;
}
