/* Test helper, never shipped: defines or removes a drive letter in the
 * running Wine through its mount manager, as winecfg does
 * (IOCTL_MOUNTMGR_DEFINE_UNIX_DRIVE, a Wine extension; the structure is
 * the one of Wine 8's include/ddk/mountmgr.h). Unlike a bare
 * dosdevices symlink, this makes the drive appear to running programs
 * (GetLogicalDriveStringsW) with the type asked for.
 *   drive_helper define LETTER UNIXDIR   -> a removable drive (DRIVE_REMOVABLE)
 *   drive_helper remove LETTER
 * Wine takes the volume label and serial from the files .windows-label
 * and .windows-serial in the drive's root. Exit 0 on success. */
#include <windows.h>
#include <winioctl.h>
#include <stdio.h>
#include <string.h>

struct wine_unix_drive {
    ULONG size;
    ULONG type;
    ULONG fs_type;
    DWORD serial;
    ULONGLONG unix_dev;
    WCHAR letter;
    USHORT mount_point_offset;
    USHORT device_offset;
    USHORT label_offset;
};

#define DEFINE_UNIX_DRIVE CTL_CODE('m', 32, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS)

int main(int argc, char **argv)
{
    char buf[2048];
    struct wine_unix_drive *d = (struct wine_unix_drive *)buf;
    int define = argc == 4 && !strcmp(argv[1], "define");
    int remove = argc == 3 && !strcmp(argv[1], "remove");
    if ((!define && !remove) || strlen(argv[2]) != 1) {
        fprintf(stderr, "usage: drive_helper define LETTER UNIXDIR | remove LETTER\n");
        return 2;
    }
    memset(buf, 0, sizeof buf);
    d->size = sizeof(*d);
    d->letter = (WCHAR)argv[2][0];
    d->type = define ? DRIVE_REMOVABLE : DRIVE_NO_ROOT_DIR;
    if (define) {
        size_t n = strlen(argv[3]) + 1;
        if (n > sizeof buf - sizeof(*d)) {
            fprintf(stderr, "path too long\n");
            return 2;
        }
        d->mount_point_offset = sizeof(*d);
        memcpy(buf + d->size, argv[3], n);
        d->size += n;
    }
    HANDLE h = CreateFileW(L"\\\\.\\MountPointManager", GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "cannot open the mount manager: error %lu\n", GetLastError());
        return 1;
    }
    DWORD got;
    if (!DeviceIoControl(h, DEFINE_UNIX_DRIVE, d, d->size, NULL, 0, &got, NULL)) {
        fprintf(stderr, "the mount manager refused: error %lu\n", GetLastError());
        CloseHandle(h);
        return 1;
    }
    CloseHandle(h);
    return 0;
}
