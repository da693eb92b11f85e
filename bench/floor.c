/* The libpcap read floor: the least any pcap reader built on libpcap can do with a file.
 * Opens FILE with pcap_open_offline and reads every record with pcap_next_ex, touching the
 * last byte of each so nothing is optimised away. Prints the packet count.
 * Built by the benchmark: gcc -O2 -o floor floor.c -lpcap */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv) {
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "floor: %s\n", err);
        return 2;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    unsigned long n = 0, sum = 0;
    int r;
    while ((r = pcap_next_ex(p, &h, &d)) == 1) {
        n++;
        if (h->caplen) sum += d[h->caplen - 1];
    }
    printf("%lu packets (checksum %lu)\n", n, sum);
    pcap_close(p);
    return r == PCAP_ERROR_BREAK ? 0 : 2;
}
