// Error fixture: AND4X1 is neither a PDK45 cell nor defined in the file.
module err_unknown_cell(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  AND2X1 n0(.A(A[0]), .B(B[0]), .Y(O[0]));
  AND4X1 n1(.A(A[1]), .B(B[1]), .C(A[0]), .D(B[0]), .Y(O[1]));
endmodule
