/* A test helper for tests/windows/ntfs.rs, built with mingw at test time
 * and run under Wine; never part of the product.
 *   ntfs_helper attrib PATH HEX   SetFileAttributesW(PATH, HEX)
 *   ntfs_helper lock PATH         opens PATH with share mode 0 (no other
 *                                 process may open it), prints "locked",
 *                                 and holds it until stdin closes or 300 s
 *   ntfs_helper streams PATH      prints the volume's FILE_NAMED_STREAMS
 *                                 flag and what FileStreamInfo answers */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

static int attrib(const wchar_t *path, const wchar_t *hex)
{
    DWORD bits = wcstoul(hex, NULL, 16);
    if (!SetFileAttributesW(path, bits)) {
        printf("SetFileAttributesW failed: %lu\n", GetLastError());
        return 1;
    }
    printf("attributes %lx\n", GetFileAttributesW(path));
    return 0;
}

static DWORD WINAPI deadline(LPVOID unused)
{
    (void)unused;
    Sleep(300000);
    ExitProcess(3);
    return 0;
}

static int lock(const wchar_t *path)
{
    HANDLE h = CreateFileW(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    char buf[16];
    DWORD n;
    if (h == INVALID_HANDLE_VALUE) {
        printf("open failed: %lu\n", GetLastError());
        return 1;
    }
    CreateThread(NULL, 0, deadline, NULL, 0, NULL);
    printf("locked\n");
    fflush(stdout);
    while (ReadFile(GetStdHandle(STD_INPUT_HANDLE), buf, sizeof buf, &n, NULL) && n > 0)
        ;
    CloseHandle(h);
    return 0;
}

static int streams(const wchar_t *path)
{
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_EXISTING, 0, NULL);
    DWORD flags = 0;
    __declspec(align(8)) BYTE buf[4096];
    if (h == INVALID_HANDLE_VALUE) {
        printf("open failed: %lu\n", GetLastError());
        return 1;
    }
    if (!GetVolumeInformationByHandleW(h, NULL, 0, NULL, NULL, &flags, NULL, 0))
        printf("volume: error %lu\n", GetLastError());
    else
        printf("named_streams %d\n", (flags & FILE_NAMED_STREAMS) ? 1 : 0);
    if (GetFileInformationByHandleEx(h, FileStreamInfo, buf, sizeof buf))
        printf("stream_info ok\n");
    else
        printf("stream_info error %lu\n", GetLastError());
    CloseHandle(h);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 4 && wcscmp(argv[1], L"attrib") == 0)
        return attrib(argv[2], argv[3]);
    if (argc == 3 && wcscmp(argv[1], L"lock") == 0)
        return lock(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"streams") == 0)
        return streams(argv[2]);
    printf("usage: ntfs_helper attrib PATH HEX | lock PATH | streams PATH\n");
    return 2;
}
