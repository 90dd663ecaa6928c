using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;

namespace PgVault.Engine.Storage;

/// <summary>
/// fsync of a directory, so that a rename or a new entry in it survives a crash (pgBackRest's <c>pathSync</c>).
/// .NET has no API for it: on Linux this opens the directory with <c>open(O_RDONLY|O_DIRECTORY)</c> and calls
/// <c>fsync</c>; elsewhere it does nothing (Windows flushes directory metadata with the file).
/// </summary>
internal static class DirectorySync
{
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;   // Linux, x86-64 and arm64 alike
    private const int OCloexec = 0x80000;
    private const int ENoEnt = 2;
    private const int EIntr = 4;
    private const int EInval = 22;

    /// <summary>
    /// Makes the entries of <paramref name="directory"/> durable. Throws <see cref="IOException"/> on failure; a directory
    /// that no longer exists (removed by a concurrent delete of everything in it) has nothing left to make durable.
    /// </summary>
    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return;

        var path = Encoding.UTF8.GetBytes(directory + "\0");
        int fd;
        do
        {
            fd = NativeMethods.Open(path, ORdOnly | ODirectory | OCloexec);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);

        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENoEnt)
                return;
            throw Error("open", directory, errno);
        }

        try
        {
            if (NativeMethods.Fsync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                // Some filesystems cannot fsync a directory (EINVAL); their metadata needs no sync to be durable.
                if (errno != EInval)
                    throw Error("fsync", directory, errno);
            }
        }
        finally
        {
            _ = NativeMethods.Close(fd);
        }
    }

    /// <summary>
    /// Makes everything written to the filesystem holding <paramref name="path"/> durable: file data, sizes, directory
    /// entries, and the device's cache (<c>syncfs</c>, Linux; one call for a whole restore instead of one <c>fsync</c> per
    /// file and directory). Elsewhere it does nothing. Throws <see cref="IOException"/> when the kernel reports a write
    /// error (Linux 5.8 and later report writeback errors through it).
    /// </summary>
    public static void SyncFileSystem(string path)
    {
        if (!OperatingSystem.IsLinux())
            return;
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        do
        {
            fd = NativeMethods.Open(bytes, ORdOnly | ODirectory | OCloexec);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);

        if (fd < 0)
            throw Error("open", path, Marshal.GetLastPInvokeError());
        try
        {
            if (NativeMethods.Syncfs(fd) != 0)
                throw Error("syncfs", path, Marshal.GetLastPInvokeError());
        }
        finally
        {
            _ = NativeMethods.Close(fd);
        }
    }

    private static IOException Error(string call, string directory, int errno) =>
        new($"unable to sync directory '{directory}' ({call}: {new Win32Exception(errno).Message})", errno);

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Open(byte[] path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Fsync(int fd);

        [DllImport("libc", EntryPoint = "syncfs", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Syncfs(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Close(int fd);
    }
}
