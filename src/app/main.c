/* main.c - the ppq-calib command line. */
#include "pq_core.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("ppq-calib %s\n", PQ_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "usage: ppq-calib --version\n");
    return 2;
}
